"""Kubernetes code users already have, run as written: the Kubernetes guide's example and
Surreal's ``create_surreal()`` launch code.

The ``create_surreal()`` snippet is kept verbatim below (``CREATE_SURREAL``); only its config values are
filled in (the names it expects from Surreal: ``config``, ``cmd_dict``, the pod types,
``resource_limit_gpu``). ``images_to_build`` stays empty (no ``build_image`` in the pod
types), so the DockerBuilder part is not reached. Every manifest it produces is
validated against the Kubernetes 1.25 and 1.37 schemas.
"""

import copy
import itertools

import pytest
import yaml

from symphony.errors import PodLevelSettingError

CREATE_SURREAL = r'''from symphony.commandline import SymphonyParser
from symphony.engine import SymphonyConfig, Cluster
from symphony.addons import DockerBuilder, clean_images

C = config  # config dictionary
cluster = Cluster.new('kube')
exp = cluster.new_experiment(experiment_name)

# Read pod specifications
assert agent_pod_type in C.pod_types, \
    'agent pod type not found in `pod_types` section in ~/.surreal.yml'
assert nonagent_pod_type in C.pod_types, \
    'nonagent pod type not found in `pod_types` section in ~/.surreal.yml'
if eval_pod_type is None: eval_pod_type = agent_pod_type
assert eval_pod_type in C.pod_types, \
    'eval pod type not found in `pod_types` section in ~/.surreal.yml'

agent_pod_spec = copy(C.pod_types[agent_pod_type])
nonagent_pod_spec = copy(C.pod_types[nonagent_pod_type])
eval_pod_spec = copy(C.pod_types[eval_pod_type])

agent_resource_request = agent_pod_spec.get('resource_request', {})
nonagent_resource_request = nonagent_pod_spec.get('resource_request', {})
eval_resource_request = eval_pod_spec.get('resource_request', {})

agent_resource_limit = agent_pod_spec.get('resource_limit', {})
nonagent_resource_limit = nonagent_pod_spec.get('resource_limit', {})
eval_resource_limit = eval_pod_spec.get('resource_limit', {})

images_to_build = {}
# defer to build last, so we don't build unless everythingpasses
if 'build_image' in agent_pod_spec:
    image_name = agent_pod_spec['build_image']
    images_to_build[image_name] = agent_pod_spec['image']
    # Use experiment_name as tag
    agent_pod_spec['image'] = '{}:{}'.format(agent_pod_spec['image'], exp.name)
if 'build_image' in nonagent_pod_spec:
    image_name = nonagent_pod_spec['build_image']
    images_to_build[image_name] = nonagent_pod_spec['image']
    nonagent_pod_spec['image'] = '{}:{}'.format(nonagent_pod_spec['image'], exp.name)
if has_eval:
    if 'build_image' in eval_pod_spec:
        image_name = eval_pod_spec['build_image']
        images_to_build[image_name] = eval_pod_spec['image']
        eval_pod_spec['image'] = '{}:{}'.format(eval_pod_spec['image'], exp.name)

nonagent = exp.new_process_group('nonagent')
learner = nonagent.new_process('learner', container_image=nonagent_pod_spec.image, args=[cmd_dict['learner']])
replay = nonagent.new_process('replay', container_image=nonagent_pod_spec.image, args=[cmd_dict['replay']])
ps = nonagent.new_process('ps', container_image=nonagent_pod_spec.image, args=[cmd_dict['ps']])
tensorboard = nonagent.new_process('tensorboard', container_image=nonagent_pod_spec.image, args=[cmd_dict['tensorboard']])
tensorplex = nonagent.new_process('tensorplex', container_image=nonagent_pod_spec.image, args=[cmd_dict['tensorplex']])
loggerplex = nonagent.new_process('loggerplex', container_image=nonagent_pod_spec.image, args=[cmd_dict['loggerplex']])

agents = []
agent_pods = []
if colocate_agent > 1:
    assert len(cmd_dict['agent']) % colocate_agent == 0
    for i in range(int(len(cmd_dict['agent']) / colocate_agent)):
        agent_pods.append(exp.new_process_group('agent-pg-{}'.format(i)))
    for i, arg in enumerate(cmd_dict['agent']):
        pg_index = int(i / colocate_agent)
        agent_p = agent_pods[pg_index].new_process('agent-{}'.format(i), container_image=agent_pod_spec.image, args=[arg])
        agents.append(agent_p)
elif batch_agent > 1:
    for i, arg in enumerate(cmd_dict['agent-batch']):
        agent_p = exp.new_process('agents-{}'.format(i), container_image=agent_pod_spec.image, args=[arg])
        agent_pods.append(agent_p)
        agents.append(agent_p)
else:
    for i, arg in enumerate(cmd_dict['agent']):
        agent_p = exp.new_process('agent-{}'.format(i), container_image=agent_pod_spec.image, args=[arg])
        agent_pods.append(agent_p)
        agents.append(agent_p)
evals = []
if has_eval:
    if batch_agent > 1:
        for i, arg in enumerate(cmd_dict['eval-batch']):
            eval_p = exp.new_process('evals-{}'.format(i), container_image=eval_pod_spec.image, args=[arg])
            evals.append(eval_p)
    else:
        for i, arg in enumerate(cmd_dict['eval']):
            eval_p = exp.new_process('eval-{}'.format(i), container_image=eval_pod_spec.image, args=[arg])
            evals.append(eval_p)

for proc in itertools.chain(agents, evals):
    proc.connects('ps-frontend')
    proc.connects('collector-frontend')

ps.binds('ps-frontend')
ps.binds('ps-backend')
ps.connects('parameter-publish')

replay.binds('collector-frontend')
replay.binds('sampler-frontend')
replay.binds('collector-backend')
replay.binds('sampler-backend')

learner.connects('sampler-frontend')
learner.binds('parameter-publish')
learner.binds('prefetch-queue')

tensorplex.binds('tensorplex')
loggerplex.binds('loggerplex')

for proc in itertools.chain(agents, evals, [ps, replay, learner]):
    proc.connects('tensorplex')
    proc.connects('loggerplex')

tensorboard.exposes({'tensorboard': 6006})

if not C.fs.type.lower() in ['nfs']:
    raise NotImplementedError('Unsupported file server type: "{}". '
                              'Supported options are [nfs]'.format(C.fs.type))
nfs_server = C.fs.server
nfs_server_path = C.fs.path_on_server
nfs_mount_path = C.fs.mount_path

for proc in exp.list_all_processes():
    # Mount nfs
    proc.mount_nfs(server=nfs_server, path=nfs_server_path, mount_path=nfs_mount_path)

resource_limit_gpu(agent_resource_limit)
agent_selector = agent_pod_spec.get('selector', {})
for proc in agents:
    # required services
    proc.resource_request(**agent_resource_request)
    proc.resource_limit(**agent_resource_limit)
    proc.image_pull_policy('Always')

for proc_g in agent_pods:
    proc_g.add_toleration(key='surreal', operator='Exists', effect='NoExecute')
    proc_g.restart_policy('Never')
    for k, v in agent_selector.items():
        proc_g.node_selector(key=k, value=v)

resource_limit_gpu(eval_resource_limit)
eval_selector = eval_pod_spec.get('selector', {})
for eval_p in evals:
    eval_p.resource_request(**eval_resource_request)
    eval_p.resource_limit(**eval_resource_limit)
    eval_p.image_pull_policy('Always')
    eval_p.add_toleration(key='surreal', operator='Exists', effect='NoExecute')
    eval_p.restart_policy('Never')
    for k, v in eval_selector.items():
        eval_p.node_selector(key=k, value=v)

learner.set_env('DISABLE_MUJOCO_RENDERING', "1")
learner.resource_request(**nonagent_resource_request)

resource_limit_gpu(nonagent_resource_limit)
learner.resource_limit(**nonagent_resource_limit)

non_agent_selector = nonagent_pod_spec.get('selector', {})
for k, v in non_agent_selector.items():
    nonagent.node_selector(key=k, value=v)
nonagent.add_toleration(key='surreal', operator='Exists', effect='NoExecute')
nonagent.image_pull_policy('Always')

for name, repo in images_to_build.items():
    builder = DockerBuilder.from_dict(self.docker_build_settings[name])
    builder.build()
    builder.tag(repo, exp.name)
    builder.push(repo, exp.name)

cluster.launch(exp, force=force, dry_run=dry_run)
'''


class Config(dict):
    """Surreal's config objects: dicts whose keys read as attributes (``C.fs.type``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def resource_limit_gpu(resource_limit):
    """Surreal's helper: its config may spell the GPU limit as 'nvidia.com/gpu'; Symphony takes gpu=."""
    if "nvidia.com/gpu" in resource_limit:
        resource_limit["gpu"] = resource_limit.pop("nvidia.com/gpu")


def surreal_config():
    return Config(
        pod_types=Config(
            agent=Config(image="us.gcr.io/surreal-dev-188523/surreal-cpu-new:latest",
                         selector={"surreal-node": "agent"}, resource_request={"cpu": 1.5}),
            nonagent=Config(image="us.gcr.io/surreal-dev-188523/surreal-gpu-new:latest",
                            selector={"surreal-node": "nonagent-gpu"},
                            resource_request={"cpu": 7.5, "mem": "40G"},
                            resource_limit={"nvidia.com/gpu": 1})),
        fs=Config(type="nfs", server="surreal-shared-fs-vm", path_on_server="/data", mount_path="/fs"))


def surreal_commands(agents, evals):
    def cmd(role, i=None):
        return f"python -m surreal.main.ddpg_configs {role}" + ("" if i is None else f" --index {i}")
    commands = {role: cmd(role) for role in ("learner", "replay", "ps", "tensorboard", "tensorplex", "loggerplex")}
    commands["agent"] = [cmd("agent", i) for i in range(agents)]
    commands["eval"] = [cmd("eval", i) for i in range(evals)]
    commands["agent-batch"] = [cmd("agent-batch", i) for i in range(agents // 4)]
    commands["eval-batch"] = [cmd("eval-batch", i) for i in range(evals)]
    return commands


def run_create_surreal(snippet=CREATE_SURREAL, agents=8, evals=2, colocate_agent=1, batch_agent=1, has_eval=True):
    """Run the snippet with only its config values filled in; returns its variables.

    """
    namespace = {"config": surreal_config(), "experiment_name": "surreal", "agent_pod_type": "agent",
                 "nonagent_pod_type": "nonagent", "eval_pod_type": None, "has_eval": has_eval,
                 "colocate_agent": colocate_agent, "batch_agent": batch_agent,
                 "cmd_dict": surreal_commands(agents, evals), "copy": copy.copy, "itertools": itertools,
                 "resource_limit_gpu": resource_limit_gpu, "self": None, "force": False, "dry_run": True}
    exec(compile(snippet, "create_surreal", "exec"), namespace)
    return namespace


def by_name(objects, kind):
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def test_snippet_imports_resolve():
    for line in CREATE_SURREAL.splitlines()[:3]:
        exec(line, {})


def test_create_surreal_runs_and_every_manifest_is_valid(capsys, validate_all):
    variables = run_create_surreal()
    printed = capsys.readouterr().out
    plan = variables["cluster"].plan(variables["exp"])
    validate_all(plan.objects)
    assert [doc for doc in yaml.safe_load_all(printed) if doc] == plan.objects  # dry run printed the plan

    pods = by_name(plan.objects, "Pod")
    assert list(pods) == [f"agent-{i}" for i in range(8)] + ["eval-0", "eval-1", "nonagent"]
    nonagent = pods["nonagent"]
    containers = {c["name"]: c for c in nonagent["spec"]["containers"]}
    assert list(containers) == ["learner", "replay", "ps", "tensorboard", "tensorplex", "loggerplex"]
    assert {c["imagePullPolicy"] for c in containers.values()} == {"Always"}
    assert containers["learner"]["args"] == ["python -m surreal.main.ddpg_configs learner"]
    assert "command" not in containers["learner"]  # args alone keep the image's entrypoint
    # a GPU limit is also the request (GPUs are whole devices; Kubernetes would default it so)
    assert containers["learner"]["resources"] == {"requests": {"cpu": "7.5", "memory": "40G", "nvidia.com/gpu": "1"},
                                                  "limits": {"nvidia.com/gpu": "1"}}
    assert {"name": "DISABLE_MUJOCO_RENDERING", "value": "1"} in containers["learner"]["env"]
    assert nonagent["spec"]["nodeSelector"] == {"surreal-node": "nonagent-gpu"}
    toleration = [{"key": "surreal", "operator": "Exists", "effect": "NoExecute"}]
    assert nonagent["spec"]["tolerations"] == toleration

    for name, pod in pods.items():
        assert pod["spec"]["volumes"][0] == {"name": "nfs-0", "nfs": {"server": "surreal-shared-fs-vm", "path": "/data"}}
        assert len(pod["spec"]["volumes"]) == 1  # one NFS volume, however many containers mount it
        for c in pod["spec"]["containers"]:
            assert {"name": "nfs-0", "mountPath": "/fs", "readOnly": False} in c["volumeMounts"]
        if name != "nonagent":
            assert pod["spec"]["restartPolicy"] == "Never" and pod["spec"]["tolerations"] == toleration
            assert pod["spec"]["nodeSelector"] == {"surreal-node": "agent"}
            assert pod["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "1.5"}}
            assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"

    services = by_name(plan.objects, "Service")
    assert services["tensorboard"]["spec"]["type"] == "LoadBalancer"
    assert services["tensorboard"]["spec"]["ports"][0]["port"] == 6006
    assert {s["spec"]["selector"]["symphony/pod"] for s in services.values()} == {"nonagent"}
    assert sorted(services) == sorted(["ps-frontend", "ps-backend", "collector-frontend", "sampler-frontend",
                                       "collector-backend", "sampler-backend", "parameter-publish",
                                       "prefetch-queue", "tensorplex", "loggerplex", "tensorboard"])
    agent_env = {e["name"]: e["value"] for e in pods["agent-3"]["spec"]["containers"][0]["env"]}
    port = services["ps-frontend"]["spec"]["ports"][0]["port"]
    assert agent_env["SYMPH_PS_FRONTEND_ADDR"] == f"ps-frontend:{port}"


def test_create_surreal_with_colocated_agents_in_process_groups(capsys, validate_all):
    variables = run_create_surreal(colocate_agent=2)
    capsys.readouterr()
    plan = variables["cluster"].plan(variables["exp"])
    validate_all(plan.objects)
    pods = by_name(plan.objects, "Pod")
    assert [n for n in pods if n.startswith("agent-pg-")] == [f"agent-pg-{i}" for i in range(4)]
    group_pod = pods["agent-pg-1"]
    assert [c["name"] for c in group_pod["spec"]["containers"]] == ["agent-2", "agent-3"]
    assert group_pod["spec"]["restartPolicy"] == "Never"
    assert group_pod["spec"]["nodeSelector"] == {"surreal-node": "agent"}
    assert {c["imagePullPolicy"] for c in group_pod["spec"]["containers"]} == {"Always"}


def test_create_surreal_with_batched_agents(capsys, validate_all):
    variables = run_create_surreal(batch_agent=4)
    capsys.readouterr()
    plan = variables["cluster"].plan(variables["exp"])
    validate_all(plan.objects)
    assert [n for n in by_name(plan.objects, "Pod") if n.startswith(("agents-", "evals-"))] == \
        ["agents-0", "agents-1", "evals-0", "evals-1"]


def test_kubernetes_guide_example_runs_as_written(capsys, validate_all):
    from symphony.engine import Cluster
    from symphony.kube import KubeCluster
    cluster = Cluster.new('kubernetes')  # cluster is a KubeCluster
    assert isinstance(cluster, KubeCluster)
    exp = cluster.new_experiment('rl')
    learner = exp.new_process('learner', container_image='ubuntu:16.04', command='python', args=['learner.py'])
    agent = exp.new_process('agent', container_image='ubuntu:16.04', command='python',
                            args=['agent.py', '--env', 'half-cheetah'])
    learner.binds('replay-server')
    learner.binds('parameter-server')
    agent.connects('replay-server')
    agent.connects('parameter-server')
    learner.exposes('tensorboard')
    plan = cluster.launch(exp, dry_run=True)
    printed = [doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc]
    validate_all(printed)
    assert printed == plan.objects
    assert [o["kind"] for o in printed] == ["Namespace", "Service", "Service", "Service", "Pod", "Pod"]
    # the guide's "manual update": pod_yml on a standalone process, on a group; container_yml on its process
    learner.pod_yml["spec"] = {"priorityClassName": "high"}
    learner.container_yml["stdin"] = True
    group = exp.new_process_group('group')
    member = group.new_process('member', container_image='ubuntu:16.04', command='python')
    group.pod_yml["metadata"] = {"annotations": {"note": "x"}}
    with pytest.raises(PodLevelSettingError):
        member.node_selector("a", "b")
    pods = by_name(validate_all(cluster.plan(exp).objects), "Pod")
    assert pods["learner"]["spec"]["priorityClassName"] == "high"
    assert pods["learner"]["spec"]["containers"][0]["stdin"] is True
    assert pods["group"]["metadata"]["annotations"]["note"] == "x"
