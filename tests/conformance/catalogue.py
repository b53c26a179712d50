"""Declarations every backend must give the same meaning, or the same refusal.

Each entry is a function that declares an experiment on an empty ``ExperimentSpec``
(and may return expectations about it). ``test_conformance.py`` plans each one on
every registered backend and compares what the plans would really run.

Programs named in exec form exist on this machine (``sh``, ``echo``), because host
backends check that the program can be found before anything starts.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from symphony.spec.commands import guarded_preamble

IMAGE = "registry.local:5000/team/rl:1.0"


@dataclass
class Expect:
    """What a declaration must mean, beyond every backend agreeing with the others.

    ``refusal``: every backend refuses, with a message matching this (the same message
    everywhere). ``container_refusal``: container backends refuse (the host backends run
    it). ``resources``: key -> normalised resources that backends applying resources give.
    ``not_applied``: features host backends must list as not applied.
    """

    refusal: Optional[str] = None
    #: (feature, pattern): backends whose capabilities refuse ``feature`` refuse it in one line
    #: naming themselves; the others plan it. "containers" stands for running every process in an
    #: image, "image" for running a process that declares an image in it.
    capability_refusal: Optional[Tuple[str, str]] = None
    resources: Dict[str, dict] = field(default_factory=dict)
    argv: Dict[str, list] = field(default_factory=dict)
    env: Dict[str, Dict[str, str]] = field(default_factory=dict)
    mounts: Dict[str, list] = field(default_factory=dict)
    labels: Dict[str, Dict[str, str]] = field(default_factory=dict)
    restart: Dict[str, str] = field(default_factory=dict)
    keeps_entrypoint: Dict[str, bool] = field(default_factory=dict)
    host_not_applied: tuple = ()


CATALOGUE: Dict[str, Callable] = {}


def declaration(function):
    CATALOGUE[function.__name__] = function
    return function


# --- what runs --------------------------------------------------------------------------
@declaration
def exec_form_arguments_verbatim(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", args=["a b", "'q'", "$HOME", "ünï", ""])
    return Expect(argv={"p": ["echo", "a b", "'q'", "$HOME", "ünï", ""]}, keeps_entrypoint={"p": False})


@declaration
def kubelet_variable_syntax_is_not_expanded(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", args=["$(HOME)", "$$"], env={"X": "$(Y)"})
    return Expect(argv={"p": ["echo", "$(HOME)", "$$"]}, env={"p": {"X": "$(Y)"}})


@declaration
def shell_lines(exp, tmp):
    exp.new_process("p", ["cd /tmp", "echo $PWD"], container_image=IMAGE)
    return Expect(argv={"p": ["<shell>", "-c", "cd /tmp\necho $PWD"]})


@declaration
def preambles_at_every_level_in_order(exp, tmp):
    exp.preamble_cmds.append("echo experiment")
    group = exp.new_process_group("g", preamble_cmds=["echo group"])
    group.new_process("p", ["echo body"], container_image=IMAGE, preamble_cmds=["echo process"])
    preamble = guarded_preamble(["echo experiment", "echo group", "echo process"])
    return Expect(argv={"g/p": ["<shell>", "-c", "\n".join(preamble + ["echo body"])]})


@declaration
def exec_form_after_a_preamble_keeps_arguments_verbatim(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", args=["a b", "*"], preamble_cmds=["export X=1"])
    script = "\n".join(guarded_preamble(["export X=1"]) + ['exec "$@"'])
    return Expect(argv={"p": ["<shell>", "-c", script, "p", "echo", "a b", "*"]})


@declaration
def args_without_command_keep_the_image_entrypoint(exp, tmp):
    exp.new_process("p", container_image=IMAGE, args=["echo", "--flag"])
    return Expect(capability_refusal=("image_entrypoint", "process 'p' gives args without command, which keeps the "
                                                          "image's entrypoint, but the .* backend runs its own step "
                                                          "runner in the image"),
                  argv={"p": ["echo", "--flag"]}, keeps_entrypoint={"p": True})


@declaration
def args_without_command_after_a_preamble_are_refused_where_an_image_entrypoint_runs(exp, tmp):
    exp.new_process("p", container_image=IMAGE, args=["echo", "--flag"], preamble_cmds=["echo pre"])
    script = "\n".join(guarded_preamble(["echo pre"]) + ['exec "$@"'])
    return Expect(capability_refusal=("image", "process 'p' gives args without command, which keeps the "
                                                    "image's entrypoint, so preamble_cmds cannot run first: "
                                                    "give command= as well"),
                  argv={"p": ["<shell>", "-c", script, "p", "echo", "--flag"]})


@declaration
def a_gpu_count_of_zero_asks_for_none(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").resource_limit(gpu=0, cpu="1m")
    return Expect(resources={"p": {"limits": {"cpu": 0.001}}})


@declaration
def reserved_experiment_names_are_refused_everywhere(exp, tmp):
    exp.name = "kube-system"
    exp.new_process("p", container_image=IMAGE, command="echo")
    return Expect(refusal="experiment name 'kube-system' is reserved by Kubernetes")


@declaration
def an_image_alone_runs_its_default_command(exp, tmp):
    exp.new_process("server", container_image=IMAGE)
    return Expect(capability_refusal=("image_default_command", "process 'server' declares only an image, whose own "
                                                               "command the .* backend cannot run"),
                  argv={"server": []}, keeps_entrypoint={"server": True})


@declaration
def nothing_to_run_is_refused(exp, tmp):
    exp.new_process("p")
    return Expect(refusal="process 'p' has nothing to run: give cmds=")


@declaration
def a_missing_image_is_refused_where_processes_run_in_images(exp, tmp):
    exp.new_process("p", command="echo")
    return Expect(capability_refusal=("containers", "process 'p' has no container image: give container_image='...'"),
                  argv={"p": ["echo"]})


@declaration
def a_malformed_image_name_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image="ubuntu:16,04", command="echo")
    return Expect(refusal="process 'p': container_image: 'ubuntu:16,04' is not a valid Docker image name")


@declaration
def an_uppercase_repository_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image="Team/RL", command="echo")
    return Expect(refusal="repository names must be lowercase")


@declaration
def an_enormous_argument_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", args=["x" * 200_000])
    return Expect(refusal="over the kernel's limit of 131071 bytes for one argument")


# --- where it runs -------------------------------------------------------------------------
@declaration
def an_absolute_working_directory(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", cwd="/tmp")
    return Expect()


@declaration
def a_relative_working_directory_has_no_meaning_in_a_container(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", cwd=".")
    return Expect(capability_refusal=("image", "cwd '.' is a directory inside the container and must be "
                                                    "absolute there"))


# --- environment ----------------------------------------------------------------------------
@declaration
def environment_precedence_experiment_group_process(exp, tmp):
    exp.env.update({"A": "exp", "B": "exp", "C": "exp"})
    group = exp.new_process_group("g", env={"B": "group", "C": "group"})
    group.new_process("p", container_image=IMAGE, command="echo", env={"C": "process"})
    exp.new_process("q", container_image=IMAGE, command="echo")
    return Expect(env={"g/p": {"A": "exp", "B": "group", "C": "process"}, "q": {"A": "exp", "B": "exp", "C": "exp"}})


@declaration
def symphony_variables_cannot_be_overridden(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo", env={"SYMPH_EXPERIMENT": "mine", "SYMPH_PROCESS": "x"})
    return Expect(env={"p": {"SYMPH_PROCESS": "p"}})


@declaration
def symphony_variables_win_over_the_experiment_and_group_too(exp, tmp):
    exp.env.update({"SYMPH_EXPERIMENT": "mine", "SYMPH_PROCESS": "x", "SYMPH_S_PORT": "1"})
    group = exp.new_process_group("g", env={"SYMPH_PROCESS": "y", "SYMPH_BIND_HOST": "203.0.113.1"})
    group.new_process("p", ["echo p"], container_image=IMAGE).binds({"s": 7001})
    return Expect(env={"g/p": {"SYMPH_EXPERIMENT": "conf", "SYMPH_PROCESS": "g/p", "SYMPH_S_PORT": "7001"}})


@declaration
def services_bound_connected_and_exposed(exp, tmp):
    server = exp.new_process("server", container_image=IMAGE, command="echo")
    server.binds(["replay-server", "ps"]).exposes({"tensorboard": 6006})
    exp.new_process("client", container_image=IMAGE, command="echo").connects(["replay-server", "ps"])
    return Expect(env={"client": {"SYMPH_TENSORBOARD_PORT": "6006"}})


@declaration
def fixed_ports_are_the_same_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").binds({"a": 7777, "b": 7778})
    return Expect(env={"p": {"SYMPH_A_PORT": "7777", "SYMPH_B_PORT": "7778"}})


@declaration
def connecting_to_a_service_nobody_binds_is_refused(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").connects("ghost")
    return Expect(refusal="process 'p' connects to service 'ghost' but no process binds it")


@declaration
def a_group_shares_its_services(exp, tmp):
    group = exp.new_process_group("pod")
    group.new_process("a", container_image=IMAGE, command="echo").binds("x")
    group.new_process("b", container_image=IMAGE, command="echo").connects("x")
    group.new_process("c", ["echo c"], container_image=IMAGE)
    exp.new_process("outside", container_image=IMAGE, command="echo").connects("x")
    return Expect()


@declaration
def secrets_reach_every_process(exp, tmp):
    path = tmp / "key.txt"
    path.write_text("hush")
    exp.secrets.append(str(path))
    exp.new_process("p", container_image=IMAGE, command="echo")
    exp.new_process_group("g").new_process("q", container_image=IMAGE, command="echo")
    return Expect()


@declaration
def mounting_over_the_secrets_directory_is_refused(exp, tmp):
    path = tmp / "key.txt"
    path.write_text("hush")
    exp.secrets.append(str(path))
    exp.new_process("p", container_image=IMAGE, command="echo").mount_empty_dir("/etc/secrets")
    return Expect(refusal="process 'p' mounts something at /etc/secrets, where the experiment's secrets go")


# --- resources ------------------------------------------------------------------------------
@declaration
def group_resources_are_defaults_for_each_process(exp, tmp):
    group = exp.new_process_group("grp")
    group.resource_limit(cpu=2, mem="1Gi")
    group.new_process("a", container_image=IMAGE, command="echo")
    group.new_process("b", container_image=IMAGE, command="echo").resource_limit(cpu="500m")
    return Expect(resources={"grp/a": {"limits": {"cpu": 2.0, "memory": 2.0 ** 30}},
                             "grp/b": {"limits": {"cpu": 0.5, "memory": 2.0 ** 30}}},
                  host_not_applied=("cpu requests and limits", "memory requests and limits"))


@declaration
def requests_and_limits(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").resource_request(cpu=1.5, mem="2G") \
        .resource_limit(cpu=2, memory="4G")
    return Expect(resources={"p": {"requests": {"cpu": 1.5, "memory": 2e9}, "limits": {"cpu": 2.0, "memory": 4e9}}})


@declaration
def a_gpu_limit(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").resource_limit(gpu=2)
    return Expect(resources={"p": {"requests": {"gpu": 2.0}, "limits": {"gpu": 2.0}}}, host_not_applied=("GPUs",))


@declaration
def a_gpu_request_alone_is_also_the_limit(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").resource_request(gpu=1)
    return Expect(resources={"p": {"requests": {"gpu": 1.0}, "limits": {"gpu": 1.0}}})


@declaration
def unequal_gpu_request_and_limit_are_refused(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").resource_request(gpu=1).resource_limit(gpu=2)
    return Expect(refusal="process 'p' requests 1 GPUs but limits them to 2")


# --- mounts ---------------------------------------------------------------------------------
@declaration
def host_path_empty_dir_and_nfs_mounts(exp, tmp):
    group = exp.new_process_group("g")
    group.mount_nfs(server="fs", path="/data", mount_path="/fs")
    group.new_process("p", container_image=IMAGE, command="echo").mount_host_path(str(tmp), "/host") \
        .mount_empty_dir("/scratch").mount_shared_memory("1Gi")
    return Expect(host_not_applied=("NFS mounts", "host-path mounts", "empty-dir mounts"),
                  mounts={"g/p": [("/dev/shm", False), ("/fs", False), ("/host", False), ("/scratch", False)]})


@declaration
def a_kubernetes_secret_mount(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").mount_secret("creds", "/creds")
    return Expect(capability_refusal=("mount.secret", "(?i)process 'p' (mounts|uses) kubernetes secret"))


@declaration
def a_raw_kubernetes_volume(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").mount_volume({"configMap": {"name": "c"}}, "/cfg")
    return Expect(capability_refusal=("mount.raw", "(?i)process 'p' (mounts|uses) (a )?raw kubernetes volume"))


# --- pods: restart policy, labels, scheduling -------------------------------------------------
@declaration
def restart_policies_of_processes_and_groups(exp, tmp):
    exp.new_process("never", container_image=IMAGE, command="echo")
    exp.new_process("always", container_image=IMAGE, command="echo").restart_policy("Always")
    group = exp.new_process_group("g").restart_policy("onfailure")
    group.new_process("member", container_image=IMAGE, command="echo")
    return Expect(restart={"never": "Never", "always": "Always", "g/member": "OnFailure"})


@declaration
def labels(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").add_labels(team="rl", tier="agent")
    exp.new_process_group("g").add_label("example.com/owner", "me").new_process("q", ["true"], container_image=IMAGE)
    exp.new_process("r", ["true"], container_image=IMAGE).add_label("symphony.io/team", "rl")  # not Symphony's own key
    return Expect(labels={"p": {"team": "rl", "tier": "agent"}, "g/q": {"example.com/owner": "me"}})


@declaration
def an_invalid_label_value_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").add_label("team", "r l")
    return Expect(refusal="label value 'r l' of 'team' on 'p' is invalid")


@declaration
def a_reserved_label_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").add_label("symphony/experiment", "other")
    return Expect(refusal="label 'symphony/experiment' on 'p' is reserved for Symphony's own bookkeeping")


@declaration
def node_selectors_and_tolerations(exp, tmp):
    group = exp.new_process_group("nonagent")
    group.node_selector("surreal-node", "nonagent-cpu").add_toleration(key="surreal", operator="Exists",
                                                                        effect="NoExecute")
    group.new_process("learner", container_image=IMAGE, command="echo")
    return Expect(host_not_applied=("node selectors", "tolerations"))


@declaration
def an_invalid_toleration_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").add_toleration(key="k", operator="Maybe")
    return Expect(refusal="toleration operator 'Maybe' on 'p' is invalid: use Exists or Equal")


@declaration
def an_invalid_node_selector_is_refused_everywhere(exp, tmp):
    exp.new_process("p", container_image=IMAGE, command="echo").node_selector("bad key!", "v")
    return Expect(refusal="node_selector key 'bad key!' on 'p' is invalid")


@declaration
def pull_policy_and_pull_secrets(exp, tmp):
    process = exp.new_process("p", container_image=IMAGE, command="echo").image_pull_policy("Always")
    process.image_pull_secret("regcred")
    return Expect(host_not_applied=("image pull policies", "image pull secrets"))


@declaration
def kubernetes_manifest_overrides(exp, tmp):
    process = exp.new_process("p", container_image=IMAGE, command="echo")
    process.pod_yml["spec"] = {"priorityClassName": "high"}
    process.container_yml["stdin"] = True
    return Expect(host_not_applied=("pod_yml overrides", "container_yml overrides"))


@declaration
def a_surreal_shaped_experiment(exp, tmp):
    nonagent = exp.new_process_group("nonagent")
    learner = nonagent.new_process("learner", container_image=IMAGE, command="python3", args=["learner.py"])
    replay = nonagent.new_process("replay", container_image=IMAGE, command="python3", args=["replay.py"])
    learner.binds(["parameter-publish"]).connects("sampler-frontend").set_env("DISABLE_MUJOCO_RENDERING", "1")
    replay.binds(["collector-frontend", "sampler-frontend"])
    nonagent.new_process("tensorboard", container_image=IMAGE, command="echo").exposes({"tensorboard": 6006})
    nonagent.restart_policy("Never")
    for i in range(3):
        agent = exp.new_process(f"agent-{i}", container_image=IMAGE, command="python3", args=["agent.py", str(i)])
        agent.connects(["collector-frontend", "parameter-publish"]).resource_request(cpu=1.5, mem="2G")
    return Expect(resources={"agent-0": {"requests": {"cpu": 1.5, "memory": 2e9}}})
