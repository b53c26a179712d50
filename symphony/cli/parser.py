"""``SymphonyParser``: the verbs of the ``symphony`` command, as a base for project CLIs.

A project builds its own command on it, as Surreal's ``kurreal`` did::

    class MyProjectParser(SymphonyParser):
        def create_cluster(self):
            return Cluster.new('kube')

        def setup(self):
            super().setup()                      # list-experiments, p, logs, delete, ...
            parser = self.add_subparser('create', aliases=['c'])
            parser.add_argument('name')

        def action_create(self, args):           # `create` maps to action_create
            exp = self.cluster.new_experiment(args.name)
            ...
            self.cluster.launch(exp)

    if __name__ == '__main__':
        MyProjectParser().main()

Every verb talks to the backend only through the :class:`~symphony.cluster.Cluster`
API, so the same command works on local, tmux, Docker and Kubernetes. The cluster
is created on first use (``self.cluster``), after the command line is parsed, so
``--help`` and argument errors never touch a backend.
"""

import argparse
import functools
import os
import sys

from ..errors import ExperimentExistsError, ExperimentNotFoundError, SymphonyError
from . import output


class UsageError(SymphonyError):
    """The command line itself is wrong (unknown option, missing argument...)."""


class UnknownCommandError(UsageError):
    """The verb is not one of the command's verbs: one line with the nearest verb, the usage, exit code 2."""

    def __init__(self, command, choices):
        import difflib
        close = difflib.get_close_matches(command, list(choices), n=1)
        self.command, self.suggestion = command, close[0] if close else None
        super().__init__(f"unknown command {command!r}: did you mean {close[0]!r}?" if close
                         else f"unknown command {command!r}")


#: argparse's own help formatters: all take ``width``
_ARGPARSE_FORMATTERS = (argparse.HelpFormatter, argparse.RawDescriptionHelpFormatter,
                        argparse.RawTextHelpFormatter, argparse.ArgumentDefaultsHelpFormatter,
                        argparse.MetavarTypeHelpFormatter)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming ``--help`` and exit code 1 (not usage + 2)."""

    #: inside add_argument, whose help formatter only checks the metavar (see _get_formatter)
    _checking_argument = False

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def _check_value(self, action, value):
        # an unknown verb: the nearest verb rather than every verb and alias (argparse lists them all)
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            raise UnknownCommandError(value, action.choices)
        super()._check_value(action, value)

    def add_argument(self, *args, **kwargs):
        self._checking_argument = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._checking_argument = False

    def _get_formatter(self):
        # argparse makes a formatter in every add_argument, only to check the metavar and help; one of
        # its own, left to find its width, asks the terminal through shutil, an import (with bz2 and
        # lzma) of milliseconds. Those checks use no width: they get one.
        if not (self._checking_argument and self.formatter_class in _ARGPARSE_FORMATTERS):
            return super()._get_formatter()
        formatter_class = self.formatter_class
        self.formatter_class = functools.partial(formatter_class, width=80)
        try:
            return super()._get_formatter()
        finally:
            self.formatter_class = formatter_class


class _UnbuiltVerb:
    """What a verb's names map to until a command line names it: the method that builds its parser
    (argparse hands it the parser's arguments, e.g. ``prog``; the parser built later gets them again)."""

    def __init__(self, **_):
        self.build, self.building = _no_build, False


def _no_build():
    raise RuntimeError("a verb listed without the method that builds its parser")


class _VerbParsers(dict):
    """The verbs' ``{name or alias: parser}``: a verb's parser is built the first time it is looked up
    (when argparse reaches it on a command line, or shell completion lists the verbs)."""

    def __getitem__(self, name):
        parser = dict.__getitem__(self, name)
        if isinstance(parser, _UnbuiltVerb):
            parser.building = True
            try:
                parser.build()  # adds the verb through add_subparser: its parser takes its names' places
            finally:
                parser.building = False
            parser = dict.__getitem__(self, name)
            if isinstance(parser, _UnbuiltVerb):
                raise RuntimeError(f"building verb {name!r} did not add it with add_subparser")
        return parser

    def get(self, name, default=None):
        return self[name] if name in self else default

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


class _SubParsersAction(argparse._SubParsersAction):
    """argparse's verbs, where a verb can be listed (``--help``, suggestions, completion of its name)
    before its parser exists: building every verb's parser was a tenth of ``symphony p``'s time,
    and a command line runs one verb."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _VerbParsers()

    def add_unbuilt_parser(self, name, aliases, help, build):
        """List verb ``name`` now; ``build()``, which must add it with ``add_parser``, runs on first lookup."""
        parser_class, self._parser_class = self._parser_class, _UnbuiltVerb
        try:
            unbuilt = self.add_parser(name, aliases=list(aliases), help=help)
        finally:
            self._parser_class = parser_class
        unbuilt.build = build
        return unbuilt

    def add_parser(self, name, **kwargs):
        unbuilt = dict.get(self._name_parser_map, name)
        if not (isinstance(unbuilt, _UnbuiltVerb) and unbuilt.building):
            return super().add_parser(name, **kwargs)
        kwargs.pop("help", None)  # (listed already)
        # built apart, then put in its names' places: the same keys, as a lookup may be iterating them
        verbs, self._name_parser_map = self._name_parser_map, {}
        try:
            parser = super().add_parser(name, **kwargs)
        finally:
            built, self._name_parser_map = self._name_parser_map, verbs
        dict.update(verbs, built)
        return parser


#: ``[group/]process:path`` on either side of ``scp``; anything else is a path here.
_REMOTE_PATH = r"^([a-z0-9][-a-z0-9]*(?:/[a-z0-9][-a-z0-9]*)?):(.*)$"


class SymphonyParser:
    """Command-line front end; subclasses implement :meth:`create_cluster` and may add verbs."""

    def __init__(self, prog=None, description=None):
        self.prog = prog or os.path.basename(sys.argv[0]) or "symphony"
        self.master_parser = _ArgumentParser(prog=self.prog, description=description or self.__doc__)
        self.add_common_arguments(self.master_parser)
        self.subparsers = self.master_parser.add_subparsers(dest="verb", metavar="<command>",
                                                            action=_SubParsersAction, **self._subparsers_prog())
        self.subparsers.required = True
        self._verbs = {}
        self.args = None
        self.setup()

    # --- what subclasses provide --------------------------------------------------
    def create_cluster(self):
        """Return the :class:`~symphony.cluster.Cluster` the verbs act on, e.g. ``Cluster.new('kube')``."""
        raise NotImplementedError(f"{type(self).__name__} must implement create_cluster() returning Cluster.new(...)")

    def add_common_arguments(self, parser):
        """Options accepted before and after every verb (none here; ``symphony`` adds ``-b``).

        Give them ``default=argparse.SUPPRESS`` so a value given before the verb survives.
        """

    def setup(self):
        """Add the verbs; subclasses call ``super().setup()`` and then ``add_subparser`` their own."""
        for name, aliases in (("list-experiments", ("ls", "lse")), ("list-processes", ("p", "lsp", "process")),
                              ("logs", ("log", "l")), ("delete", ("d",)), ("delete-batch", ("db",)),
                              ("switch-experiment", ("exp", "e", "se")), ("visit", ("vi",)), ("exec", ("x",)),
                              ("ssh", ()), ("scp", ("cp",)), ("launch", ())):
            self._add_builtin_verb(SymphonyParser, name, aliases)

    # --- building the command line ------------------------------------------------
    def add_subparser(self, name, aliases=(), **kwargs):
        """Add verb ``name`` (and ``aliases``); running it calls ``self.action_<name>(args)``.

        Dashes become underscores (``create-dev`` -> ``action_create_dev``); the
        method's docstring is the verb's help. Returns the argparse parser, for
        ``add_argument``.
        """
        action, summary = self._verb_action(name)
        kwargs.setdefault("help", summary)
        kwargs.setdefault("description", summary)
        parser = self.subparsers.add_parser(name, aliases=list(aliases), **kwargs)
        self.add_common_arguments(parser)
        parser.set_defaults(_action=action, _takes_command=False)
        for verb in (name, *aliases):
            self._verbs[verb] = parser
        return parser

    def _verb_action(self, name):
        """The method verb ``name`` runs, and its help line (the first line of its docstring)."""
        method_name = "action_" + name.replace("-", "_")
        action = getattr(self, method_name, None)
        if not callable(action):
            raise TypeError(f"{type(self).__name__}.add_subparser({name!r}) needs a method "
                            f"{method_name}(self, args): define it")
        return action, (action.__doc__ or "").strip().split("\n")[0]

    def _add_builtin_verb(self, defined_in, name, aliases=()):
        """Add a verb of ``defined_in`` whose parser its ``_setup_<name>`` method builds (calling
        :meth:`add_subparser`): listed now, built when a command line names it (see _SubParsersAction).
        Built now, as before, where a subclass changed that method or add_subparser: it may expect so."""
        setup_name = "_setup_" + name.replace("-", "_")
        setup = getattr(self, setup_name)
        if (getattr(type(self), setup_name) is not getattr(defined_in, setup_name)
                or type(self).add_subparser is not SymphonyParser.add_subparser
                or not isinstance(self.subparsers, _SubParsersAction)):
            setup()
            return
        unbuilt = self.subparsers.add_unbuilt_parser(name, aliases, self._verb_action(name)[1], setup)
        for verb in (name, *aliases):
            self._verbs[verb] = unbuilt

    def _subparsers_prog(self):
        """``prog`` of the verbs' parsers where argparse would find it to be the command's own ``prog``
        (no positional argument before the verb): found by formatting a usage, it cost a help formatter."""
        master = self.master_parser
        if master.usage is None and not master._get_positional_actions():
            return {"prog": master.prog}
        return {}

    def get_subparser(self, name):
        """The argparse parser of verb ``name`` (or one of its aliases), to add arguments to it."""
        try:
            parser = self._verbs[name]
        except KeyError:
            raise KeyError(f"{self.prog} has no verb {name!r}: it has {', '.join(sorted(self._verbs))}") from None
        return self.subparsers.choices[name] if isinstance(parser, _UnbuiltVerb) else parser

    def _experiment_argument(self, parser, help_text="experiment (default: the current one)"):
        parser.add_argument("experiment", nargs="?", help=help_text).completer = self._complete_experiments

    def _process_argument(self, parser):
        parser.add_argument("process", help="[group/]process; fuzzy-matched").completer = self._complete_processes

    def add_dry_run(self, parser):
        """Add ``--dry-run`` (also ``-dr``, the original's spelling) to a verb's parser."""
        parser.add_argument("-dr", "--dry-run", action="store_true", help="print what would be done, do nothing")

    def _add_experiment_name(self, parser, required=True, positional=True):
        """The original's experiment argument, read as ``args.experiment_name``: positional (optional
        unless ``required``) or ``-e/--exp``. Names with ``_``, ``.`` or spaces become ``-`` names
        when an experiment is made from them (``Cluster.new_experiment``), with a note."""
        help_text = "experiment name (lowercase letters, digits and '-'; '_', '.' and spaces become '-')"
        if positional:
            parser.add_argument("experiment_name", nargs=None if required else "?", default=None, help=help_text)
        else:
            parser.add_argument("-e", "--exp", "--experiment", "--experiment-name", dest="experiment_name",
                                default=None, help=help_text)

    def _output_argument(self, parser):
        parser.add_argument("-o", "--output", choices=output.OUTPUT_FORMATS, default="table",
                            help="table (default), json or yaml")

    # --- running ------------------------------------------------------------------
    def main(self, argv=None):
        """Parse ``argv`` and run the verb.

        With ``argv=None`` this is the program (``sys.argv``): the interpreter exits with
        the verb's exit code. With a list it returns the exit code, for tests and callers.
        """
        code = self.run(sys.argv[1:] if argv is None else argv)
        if argv is None:
            sys.exit(code)
        return code

    def run(self, argv):
        """Run one command line; every :class:`SymphonyError` becomes one line on stderr and exit code 1."""
        argv = [str(arg) for arg in argv]
        try:
            self._autocomplete()
            if not argv:  # a bare `symphony` asks what it can do
                self.master_parser.print_help()
                return 1
            args = self._with_original_names(self._parse(argv))
            self.args = args
            result = args._action(args)
            return result if isinstance(result, int) else 0
        except UnknownCommandError as exc:  # as argparse's usage errors: exit code 2, with the usage
            usage = self.master_parser.format_usage().strip()
            print(f"{self.prog}: error: {exc}\n{usage} (`{self.prog} --help` lists the commands)", file=sys.stderr)
            return 2
        except SymphonyError as exc:
            print(f"{self.prog}: error: {exc}", file=sys.stderr)
            return 1
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
        except BrokenPipeError:
            # `symphony logs x | head`: the reader left; stop quietly like any Unix tool
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as exc:  # a path the user gave cannot be read or written (scp, launch)
            where = f": {exc.filename}" if exc.filename else ""
            print(f"{self.prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
            return 1

    def _parse(self, argv):
        """Parse, keeping what follows ``--`` as ``args.command_argv`` for verbs that run a command."""
        if "--" in argv:
            split = argv.index("--")
            args, extra = self.master_parser.parse_known_args(argv[:split])
            if args._takes_command and not extra:
                args.command_argv = argv[split + 1:]
                return args
        args, extra = self.master_parser.parse_known_args(argv)
        if extra and args._takes_command:
            raise UsageError(f"put the command after --: `{self.prog} {args.verb} PROCESS [EXPERIMENT] -- CMD ARGS...`")
        if extra:
            self.master_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.command_argv = None
        return args

    #: the original SymphonyParser's names for the same arguments, which its subclasses read
    #: (``args.experiment_name`` in an overridden verb); both names are set
    ORIGINAL_ARGUMENT_NAMES = {"experiment": "experiment_name", "process": "component_name",
                               "service": "service_name", "patterns": "experiment_names",
                               "source": "src_file", "destination": "dest_file"}

    def _with_original_names(self, args):
        for name, original in self.ORIGINAL_ARGUMENT_NAMES.items():
            if hasattr(args, name) and not hasattr(args, original):
                setattr(args, original, getattr(args, name))
            elif hasattr(args, original) and not hasattr(args, name) and name == "experiment":
                setattr(args, name, getattr(args, original))
        if not hasattr(args, "remainder"):  # the original's exec command: what follows --
            args.remainder = list(args.command_argv or [])
            args.has_remainder = args.command_argv is not None
        return args

    def _autocomplete(self):
        """Shell completion through argcomplete, imported only when the shell asks for it."""
        if "_ARGCOMPLETE" in os.environ:
            import argcomplete
            argcomplete.autocomplete(self.master_parser)

    def _complete_experiments(self, prefix, parsed_args, **_):
        self.args = parsed_args
        try:
            return [name for name in self.cluster.list_experiments() if name.startswith(prefix)]
        except SymphonyError:
            return []

    def _complete_processes(self, prefix, parsed_args, **_):
        self.args = parsed_args
        try:
            experiment = getattr(parsed_args, "experiment", None) or self.cluster.current_experiment()
            keys = [status.key for status in self.cluster.describe_experiment(experiment)]
        except SymphonyError:
            return []
        # a bare process name is enough when it is unique, so offer names inside groups too
        return [key if key.startswith(prefix) else key.rsplit("/", 1)[-1] for key in keys
                if key.startswith(prefix) or key.rsplit("/", 1)[-1].startswith(prefix)]

    # --- shared helpers for verbs -------------------------------------------------
    @property
    def cluster(self):
        """The cluster, created by :meth:`create_cluster` on first use."""
        if getattr(self, "_cluster", None) is None:
            self._cluster = self.create_cluster()
        return self._cluster

    @cluster.setter
    def cluster(self, cluster):
        self._cluster = cluster

    @property
    def docker_build_settings(self):
        """The config's build settings by name: ``self.docker_build_settings[name]`` in a project's verbs."""
        from ..config import SymphonyConfig
        return SymphonyConfig().docker_build_settings

    @property
    def backend_name(self):
        return self.cluster.backend_name or type(self.cluster).__name__

    def resolve_experiment(self, name=None, fuzzy=True):
        """The experiment verbs act on: ``name`` (fuzzy-matched) or the current experiment."""
        names = self.cluster.list_experiments()
        if name is None:
            current = self.cluster.current_experiment()
            if current is None:
                raise SymphonyError(f"no current experiment on the {self.backend_name} backend: name one, "
                                    f"or make one current with `{self.prog} exp NAME` (`{self.prog} ls` lists them)")
            if current not in names:
                raise SymphonyError(f"the current experiment {current!r} does not exist on the {self.backend_name} "
                                    f"backend: switch with `{self.prog} exp NAME` (`{self.prog} ls` lists them)")
            return current
        from ..config import SymphonyConfig
        from . import matching
        username = SymphonyConfig().username
        if not fuzzy:
            exact, candidates = matching.best_candidates(name, names, username)
            if not exact:
                raise SymphonyError(f"no experiment named exactly {name!r} on the {self.backend_name} backend "
                                    f"(--force turns fuzzy matching off): give the full name from `{self.prog} ls`")
            return candidates[0]
        return matching.match_experiment(name, names, username, self.backend_name, self.prog)

    def resolve_process(self, experiment, name):
        """The key (``[group/]name``) of the process ``name`` fuzzy-matches in ``experiment``."""
        from . import matching
        keys = [status.key for status in self.cluster.describe_experiment(experiment)]
        return matching.match_process(name, experiment, keys)

    def resolve_service(self, experiment, name):
        """The exposed service of ``experiment`` that ``name`` fuzzy-matches (as processes are matched);
        ``name`` itself if none does, so that the backend says what it is (bound only, or unknown)."""
        from . import matching
        return matching.match_service(name, experiment, self.cluster.exposed_services(experiment))

    def confirm(self, question, force=False):
        """Ask a yes/no question on the terminal; without one, ``--force`` is required."""
        if force:
            return True
        from . import matching
        if not matching.is_interactive():
            raise SymphonyError(f"{question.rstrip('?')}: not asking without a terminal; pass -f/--force")
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    # --- list-experiments ---------------------------------------------------------
    def _setup_list_experiments(self):
        parser = self.add_subparser("list-experiments", aliases=["ls", "lse"])
        self._output_argument(parser)

    def action_list_experiments(self, args):
        """List all experiments on the backend."""
        names = self.cluster.list_experiments()
        current = self.cluster.current_experiment()
        if args.output != "table":
            output.print_data([{"name": name, "current": name == current} for name in names], args.output)
        elif sys.stdout.isatty():
            if not names:
                print(f"no experiments on the {self.backend_name} backend", file=sys.stderr)
                return
            output.print_table(["Name", ""], [[name, "current" if name == current else ""] for name in names],
                               styles=["bold" if name == current else None for name in names])
        else:
            sys.stdout.write("".join(f"{name}\n" for name in names))

    # --- list-processes -----------------------------------------------------------
    def _setup_list_processes(self):
        parser = self.add_subparser("list-processes", aliases=["p", "lsp", "process"])
        self._experiment_argument(parser)
        self._output_argument(parser)

    def action_list_processes(self, args):
        """List the processes of an experiment: group, name, ready, restarts, state."""
        experiment = self.resolve_experiment(args.experiment)
        statuses = self.cluster.describe_experiment(experiment)
        if args.output != "table":
            from ..status import processes_document
            output.print_data(processes_document(experiment, self.backend_name, statuses), args.output)
            return
        rows = [[status.group or "", status.name, "1" if status.ready else "0", str(status.restarts),
                 status.state_text()] for status in statuses]
        styles = [output.state_style(status.state, status.exit_code) for status in statuses]
        output.print_table(["Group", "Name", "Ready", "Restarts", "State"], rows, styles)

    # --- logs ---------------------------------------------------------------------
    def _setup_logs(self):
        parser = self.add_subparser("logs", aliases=["log", "l"])
        self._process_argument(parser)
        self._experiment_argument(parser)
        parser.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
        parser.add_argument("-s", "--since", help="only output newer than this: 5s, 2m, 3h, 1d")
        parser.add_argument("-t", "--tail", type=int, default=-1, help="only the last N lines (-1: all, default)")
        if type(self).action_log is not SymphonyParser.action_log:
            parser.set_defaults(_action=self.action_log)  # a project that overrode the original's `log` verb

    def action_log(self, args):
        """The original's name of this verb's method; a subclass that overrides it is what ``logs`` runs."""
        return self.action_logs(args)

    def action_logs(self, args):
        """Print the output of a process."""
        from ..host.logs import parse_since
        since = parse_since(args.since)
        if args.tail < -1:
            raise UsageError(f"invalid --tail {args.tail}: give a line count, or -1 for everything")
        experiment = self.resolve_experiment(args.experiment)
        process = self.resolve_process(experiment, args.process)
        lines = self.cluster.get_log(experiment, process, follow=args.follow, since=since,
                                     tail=None if args.tail == -1 else args.tail)
        for line in lines:
            sys.stdout.write(line + "\n")
            if args.follow:
                sys.stdout.flush()

    # --- delete, delete-batch -----------------------------------------------------
    def _setup_delete(self):
        parser = self.add_subparser("delete", aliases=["d"])
        self._experiment_argument(parser)
        parser.add_argument("-f", "--force", action="store_true", help="do not ask; names must then be exact")
        parser.add_argument("-dr", "--dry-run", action="store_true", help="only print what would be deleted")

    def action_delete(self, args):
        """Stop and delete an experiment (the current one if none is named)."""
        experiment = self.resolve_experiment(args.experiment, fuzzy=not args.force)
        if args.dry_run:
            print(f"would delete experiment {experiment} ({self.backend_name} backend)")
            return 0
        if not self.confirm(f"delete experiment {experiment!r} on the {self.backend_name} backend?", args.force):
            print("nothing deleted", file=sys.stderr)
            return 1
        self.cluster.delete(experiment)
        print(f"deleted {experiment}")
        return 0

    def _setup_delete_batch(self):
        parser = self.add_subparser("delete-batch", aliases=["db"])
        parser.add_argument("patterns", nargs="+", metavar="pattern",
                            help="part of a name, or a glob such as 'sarah-*'").completer = self._complete_experiments
        parser.add_argument("-f", "--force", action="store_true", help="do not ask")
        parser.add_argument("-dr", "--dry-run", action="store_true", help="only list what would be deleted")

    def action_delete_batch(self, args):
        """Delete every experiment matching any of the patterns (the list is shown first)."""
        import fnmatch
        names = self.cluster.list_experiments()
        matches = [name for name in names if any(
            fnmatch.fnmatchcase(name, pattern) if any(c in pattern for c in "*?[") else pattern in name
            for pattern in args.patterns)]
        if not matches:
            raise SymphonyError(f"no experiment on the {self.backend_name} backend matches "
                                f"{' '.join(args.patterns)}: `{self.prog} ls` lists them")
        print("\n".join(matches))
        if args.dry_run:
            print(f"would delete {len(matches)} experiment(s) ({self.backend_name} backend)")
            return 0
        if not self.confirm(f"delete these {len(matches)} experiment(s) on the {self.backend_name} backend?",
                            args.force):
            print("nothing deleted", file=sys.stderr)
            return 1
        for name in matches:
            self.cluster.delete(name)
            print(f"deleted {name}")
        return 0

    # --- switch-experiment --------------------------------------------------------
    def _setup_switch_experiment(self):
        parser = self.add_subparser("switch-experiment", aliases=["exp", "e", "se"])
        self._experiment_argument(parser, "experiment to make current (default: print the current one)")
        parser.add_argument("-f", "--force", action="store_true", help="switch even if it does not exist (yet)")

    def action_switch_experiment(self, args):
        """Print the current experiment, or make another one current."""
        if args.experiment is None:
            current = self.cluster.current_experiment()
            if current is None:
                raise SymphonyError(f"no current experiment on the {self.backend_name} backend: "
                                    f"`{self.prog} exp NAME` sets one")
            print(current)
            return 0
        if args.force:
            from ..spec.names import check_name
            experiment = check_name("experiment", args.experiment)
        else:
            try:
                experiment = self.resolve_experiment(args.experiment)
            except ExperimentNotFoundError as exc:
                raise ExperimentNotFoundError(f"{exc}; to make it current before it exists: "
                                              f"`{self.prog} exp -f {args.experiment}`") from None
        self.cluster.set_experiment(experiment)
        print(f"current experiment on the {self.backend_name} backend: {experiment}", file=sys.stderr)
        return 0

    # --- visit --------------------------------------------------------------------
    def _setup_visit(self):
        parser = self.add_subparser("visit", aliases=["vi"])
        parser.add_argument("service", help="an exposed service, e.g. tensorboard; fuzzy-matched")
        self._experiment_argument(parser)
        parser.add_argument("-u", "--url-only", action="store_true", help="print the URL instead of opening it")

    def action_visit(self, args):
        """Open an exposed service in a web browser."""
        experiment = self.resolve_experiment(args.experiment)
        url = self.cluster.external_url(experiment, self.resolve_service(experiment, args.service))
        if args.url_only:
            print(url)
            return 0
        import webbrowser
        if not webbrowser.open(url):
            print(f"no web browser found here: open {url}", file=sys.stderr)
            print(url)
            return 0
        print(f"opened {url}", file=sys.stderr)
        return 0

    # --- exec, ssh, scp -----------------------------------------------------------
    def _setup_exec(self):
        parser = self.add_subparser("exec", aliases=["x"], usage=f"{self.prog} exec [-h] process [experiment] -- cmd [args ...]")
        self._process_argument(parser)
        self._experiment_argument(parser)
        parser.set_defaults(_takes_command=True)

    def action_exec(self, args):
        """Run a command in a process's environment (its SYMPH_* variables and directory)."""
        if not args.command_argv:
            raise UsageError(f"put the command after --: `{self.prog} exec PROCESS [EXPERIMENT] -- CMD ARGS...`")
        experiment = self.resolve_experiment(args.experiment)
        process = self.resolve_process(experiment, args.process)
        return self.cluster.exec_command(experiment, process, args.command_argv)

    def _setup_ssh(self):
        parser = self.add_subparser("ssh")
        self._process_argument(parser)
        self._experiment_argument(parser)

    def action_ssh(self, args):
        """Open an interactive shell in a process's environment."""
        experiment = self.resolve_experiment(args.experiment)
        return self.cluster.shell(experiment, self.resolve_process(experiment, args.process))

    def _setup_scp(self):
        parser = self.add_subparser("scp", aliases=["cp"])
        parser.add_argument("source", help="[[group/]process:]path")
        parser.add_argument("destination", help="[[group/]process:]path")
        self._experiment_argument(parser)

    def action_scp(self, args):
        """Copy files between this machine and a process (PROCESS:PATH on either side)."""
        experiment = self.resolve_experiment(args.experiment)
        source = self._copy_endpoint(experiment, args.source)
        destination = self._copy_endpoint(experiment, args.destination)
        if source[0] is None and destination[0] is None:
            raise UsageError("one side of scp must be PROCESS:PATH, e.g. "
                             f"`{self.prog} scp agent-0:out.txt .` (write ./a:b for a local path with a colon)")
        self.cluster.copy(experiment, source, destination)
        print(f"copied {args.source} -> {args.destination}", file=sys.stderr)
        return 0

    def _copy_endpoint(self, experiment, text):
        import re
        match = re.match(_REMOTE_PATH, text)
        if not match:
            return (None, text)
        return (self.resolve_process(experiment, match.group(1)), match.group(2) or ".")

    # --- launch -------------------------------------------------------------------
    def _setup_launch(self):
        parser = self.add_subparser("launch")
        parser.add_argument("file", help="experiment file: .yml, .yaml, .json, or .py defining "
                                         "`experiment` or `build(cluster)`")
        parser.add_argument("--force", action="store_true", help="replace a running experiment of the same name")
        parser.add_argument("-dr", "--dry-run", action="store_true", help="print the plan, start nothing")

    def action_launch(self, args):
        """Launch an experiment declared in a YAML, JSON or Python file."""
        from .experiment_files import load_experiment_file
        exp = load_experiment_file(args.file, self.cluster)
        try:
            self.cluster.launch(exp, force=args.force, dry_run=args.dry_run)
        except ExperimentExistsError:
            if args.force:
                raise  # (e.g. a namespace Symphony does not own): the backend's own words
            raise self.cluster.experiment_exists_error(exp.name, fix=(  # the way out in this command's words
                f"replace it with `{self.prog} launch {args.file} --force`, or delete it first with "
                f"`{self.prog} delete {exp.name}`")) from None
        return 0  # (Cluster.launch printed the one summary line)
