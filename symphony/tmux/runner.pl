# The program of every Symphony tmux window: runs the process as its child, applies the restart
# decision the plan baked in, and appends every start and end to the experiment's event file.
#
#   perl -t runner.pl EVENTS KEY RUN_ID DECISION STABLE DELAYS GRACE DROP_ENV CORE_SIGNALS TIOCSPGRP
#        WUNTRACED SHARED_ENV EXECVE WAIT_PYTHON WAIT_ROOT WAIT_SPEC -- ARGV...
#
# Why Perl and no module at all: a window's runner lives as long as its process, and there are
# hundreds of windows. Perl without modules starts in about 2 ms of CPU and keeps about 1 MB of
# private memory; a Python interpreter costs 15 ms and 6 MB. Perl is part of every Debian and
# macOS base system (the log pipe already uses it), and loading POSIX alone would cost 20 ms,
# so the few constants it would give (TIOCSPGRP, WUNTRACED, which signals dump core) come from
# the plan, which reads them from Python. `-t` makes Perl ignore PERL5OPT and PERL5LIB, which
# belong to the process and must not change its runner.
#
# Why a runner at all rather than tmux watching the process: tmux learns that a pane's program
# ended only when its SIGCHLD handler reaps it, and a tmux linked with libutempter (Debian's,
# Ubuntu's) discards the SIGCHLDs that arrive while the utempter helper runs. Under load a
# restart that waited for tmux could wait minutes. The runner is the process's parent: it reaps
# it at once and restarts it without waiting for anyone.
#
# What the process gets: ARGV exactly (executed directly, looked up on its PATH), the window's
# environment exactly (minus DROP_ENV, a variable the plan added for this runner only) plus the
# variables of SHARED_ENV (see below), the window's terminal as stdin/stdout/stderr, a process
# group of its own that is the terminal's foreground group (keys typed after `symphony ssh` reach
# it, and tmux shows it as the pane's command), default signal dispositions.
#
# The restart decision is symphony.host.restarts' (the plan evaluates it into DECISION: restart
# after exit 0, after another exit, after a signal, as three 0/1 characters; DELAYS: the backoff
# after 0, 1, 2, ... quick failures in a row, the last one repeating; STABLE: a run at least this
# long resets the count). tests/tmux check that it answers as symphony.host.restarts does.
#
# Events, one line each, appended with one write (O_APPEND) to EVENTS, which Symphony reads
# into the state database (symphony.tmux.runner.ingest):
#   S KEY PID START_TICKS RESTARTS           the process started (ticks: /proc/PID/stat field 22)
#   E KEY UPTIME CODE SIGNAL NEXT            it ended (CODE or SIGNAL is '-'); NEXT 1: a restart follows
#   W KEY UPTIME                             it is held until the services it waits for are ready
#   F KEY UPTIME                             its deadline passed and it is not started (on_timeout 'fail')
# UPTIME is /proc/uptime's first figure: a clock no wall-clock step moves.
#
# The shared variables: SHARED_ENV (not '-') is a file of NAME=value entries, each ended by a NUL, that
# every process of the experiment gets (its services' addresses: three per service, so thousands). They
# are not on the tmux session, because tmux copies the session's environment for every window it
# creates (in the server, one window after another) and then sets it in the window's child one variable
# at a time, each setenv searching all those before it: per window, time that grows with the square of
# the number of variables. The runner reads the file once and hands the process the window's
# environment plus the file's in one execve (Perl's syscall), looking the program up on PATH as execvp
# does. EXECVE, from the plan: the system call's number, then ENOEXEC, EACCES and the errors after
# which the PATH search goes on (ENOENT first). With EXECVE '-' (a machine whose execve number the plan
# does not know) the runner sets the variables in its own environment instead, the slow way, and
# executes the process as it otherwise does.
#
# Holding: with a WAIT_SPEC (not '-'), the first start waits for `WAIT_PYTHON -m symphony.readiness.wait
# WAIT_SPEC` (WAIT_ROOT on its PYTHONPATH), which checks the services itself and exits 0 (start) or 3
# (do not start: the runner records F and ends with 3). Why Python here and not Perl: only the windows
# that wait pay for it, only while they wait, and the one implementation of the checks, deadlines and
# on_timeout (symphony.readiness) stays the only one; probing HTTP from Perl would need IO::Socket,
# which every window would then load. Restarts never wait: waiting is about the first start.
#
# Stopping: SIGHUP (the terminal went away: window or session closed, tmux server killed even
# with SIGKILL), SIGTERM, SIGINT, SIGQUIT stop the restarts and are passed on to the process's
# group; after GRACE seconds whatever is left of the window (the group, and any process carrying
# this run's SYMPH_RUN_ID and this window's SYMPH_PROCESS) is killed. The runner then ends the
# way the process ended, so a dead pane shows its status.

# (Written strict-clean, checked by the tests with `perl -Mstrict -c`; loading strict.pm in every window
# would cost half a millisecond each.)

$SIG{__WARN__} = sub {};   # (taint mode's notes on exec and kill: nothing may reach the window)
$| = 1;

my ($events_path, $key, $run_id, $decision, $stable, $delays, $grace, $drop_env, $core_signals, $tiocspgrp,
    $wuntraced, $shared_env, $execve, $wait_python, $wait_root, $wait_spec, $separator, @argv) = @ARGV;
if (!defined $separator || $separator ne '--' || !@argv) {
    print STDERR "usage: perl -t runner.pl EVENTS KEY RUN_ID DECISION STABLE DELAYS GRACE DROP_ENV "
        . "CORE_SIGNALS TIOCSPGRP WUNTRACED SHARED_ENV EXECVE WAIT_PYTHON WAIT_ROOT WAIT_SPEC -- ARGV...\n";
    exit 2;
}
my @delays = split /,/, $delays;
if ($argv[0] eq '--decide') {   # the decision alone, for the tests: lines of CODE SIGNAL RAN_FOR FAILURES
    while (my $case = <STDIN>) {
        my ($restart, $failures, $delay) = decide(split ' ', $case);
        print "$restart $failures $delay\n";
    }
    exit 0;
}
my %core = map { $_ => 1 } split /,/, $core_signals;
my $me = $$;
my $child;              # pid (and process group) of the running process
my $stopping;           # the first stop signal's name
my $stop_deadline;      # uptime when whatever is left of the window is killed
delete $ENV{$drop_env} if $drop_env ne '-';
my @shared;             # the shared variables' NAME=value entries, when the process gets them in one execve
my $shared_text;        # the same, each entry preceded by a NUL (to look a name up)

# (unwritable events: the process still runs and restarts; only its records are missing)
my $events;
open($events, '>>', $events_path) or undef $events;

$SIG{TTOU} = 'IGNORE';  # to hand the terminal over from the background
$SIG{CHLD} = 'DEFAULT';
$SIG{$_} = \&on_stop for qw(HUP TERM INT QUIT);
$SIG{ALRM} = sub { return if $$ != $me; cold(); kill_window('KILL') };

sub uptime {
    open(my $handle, '<', '/proc/uptime') or return 0;
    my ($seconds) = split ' ', scalar <$handle>;
    return $seconds + 0;
}

sub start_ticks {
    my ($pid) = @_;
    open(my $handle, '<', "/proc/$pid/stat") or return '-';
    my $stat = do { local $/; <$handle> };
    $stat =~ s/^.*\)\s+//s or return '-';   # the name in parentheses may hold anything
    my @fields = split ' ', $stat;
    return defined $fields[19] ? $fields[19] : '-';
}

sub event {
    syswrite($events, join(' ', @_) . "\n") if $events;
}

sub decide {
    # (restart 0/1, quick failures in a row, delay): DECISION, STABLE and DELAYS are the plan's reading
    # of symphony.host.restarts
    my ($code, $signal, $ran_for, $failures) = @_;
    my $which = $signal ne '-' ? 2 : ($code ne '-' && $code == 0 ? 0 : 1);   # (neither: an unseen end)
    return (0, $failures, '-') unless substr($decision, $which, 1);
    $failures = $ran_for >= $stable ? 0 : $failures + 1;
    my $delay = $delays[$failures > $#delays ? $#delays : $failures];
    return (1, $failures, $delay);
}

sub signal_child {
    my ($signal) = @_;
    return unless $child;
    kill($signal, -$child) or kill($signal, $child);
}

sub on_stop {
    my ($name) = @_;
    return if $$ != $me;   # (a signal that reached a child before it exec'ed)
    if (!defined $stopping) {
        $stopping = $name;
        $stop_deadline = uptime() + $grace;
        if ($grace > 0) {
            alarm(int($grace) == $grace ? $grace : int($grace) + 1);
        }
    }
    signal_child($name);
    if ($grace <= 0) {
        cold();
        kill_window('KILL');
    }
}

sub spawn {
    # start the process; undef, or why its program could not be executed (it then exited)
    pipe(my $errors_read, my $errors_write) or return "cannot create a pipe: $!";   # (close-on-exec)
    my $pid = fork();
    return "cannot fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $errors_read;
        setpgrp(0, 0);
        ioctl(STDIN, $tiocspgrp, pack('i', $$)) if -t STDIN;   # the terminal's foreground group
        $SIG{$_} = 'DEFAULT' for qw(HUP TERM INT QUIT ALRM CHLD TTOU);
        if (@shared) {
            exec_shared();
        } else {
            exec { $argv[0] } @argv;
        }
        syswrite($errors_write, "$!");
        exit 127;
    }
    $child = $pid;
    setpgrp($pid, $pid);   # (also done by the child: whichever runs first)
    signal_child($stopping) if defined $stopping;   # (a stop that came while it was being forked)
    close $errors_write;
    my $failure = '';
    while (sysread($errors_read, my $chunk, 4096)) {
        $failure .= $chunk;
    }
    close $errors_read;
    return undef if $failure eq '';
    waitpid($pid, 0);
    $child = undef;
    return $failure;
}

sub exec_shared {
    # execvp(ARGV) with the window's environment (sorted by name, as tmux gives it) and then the shared
    # variables, in one execve; a window variable the file also names gives way to the file's, as the
    # session's environment overrides tmux's global one. Returns only if nothing could be executed.
    my ($number, $enoexec, $eacces, @go_on) = split /,/, $execve;
    my @env = ((map { "$_=$ENV{$_}" }
                grep { substr($_, 0, 6) ne 'SYMPH_' || index($shared_text, "\0$_=") < 0 } sort keys %ENV), @shared);
    my $envp = pack('p*', @env, undef);
    my $argvp = pack('p*', @argv, undef);
    my $file = $argv[0];
    if ($file eq '') {
        $! = $go_on[0];   # (ENOENT, as execvp says)
        return;
    }
    my @candidates = ($file);
    if ($file !~ m{/}) {
        my $path = defined $ENV{PATH} ? $ENV{PATH} : '/bin:/usr/bin';   # (the C library's default)
        @candidates = map { $_ eq '' ? $file : "$_/$file" } ($path eq '' ? ('') : split(/:/, $path, -1));
    }
    my $denied;
    for my $candidate (@candidates) {
        syscall($number, $candidate, $argvp, $envp);
        if ($! == $enoexec) {   # no #! line: the shell runs it, as execvp does
            my $shell = '/bin/sh';
            syscall($number, $shell, pack('p*', $shell, $candidate, @argv[1 .. $#argv], undef), $envp);
        }
        my $error = $! + 0;
        $denied = 1 if $error == $eacces;
        return unless $error == $eacces || grep { $error == $_ } @go_on;
    }
    $! = $eacces if $denied;
}

sub wait_child {
    # (exit code, '-') or ('-', signal number); a stopped process (Ctrl-Z) is continued, as tmux does
    while (1) {
        my $pid = waitpid($child, $wuntraced);
        if ($pid != $child) {   # (cannot happen: it is our child)
            $child = undef;
            return ('-', '-');
        }
        my $status = $?;
        if (($status & 0xff) == 0x7f) {   # stopped
            my $signal = ($status >> 8) & 0xff;
            signal_child('CONT') unless $signal == 21 || $signal == 22;   # (SIGTTIN, SIGTTOU)
            next;
        }
        $child = undef;
        return ($status & 0x7f) ? ('-', $status & 0x7f) : ($status >> 8, '-');
    }
}

sub backoff_wait {
    # wait before a restart, in short steps so a stop is seen soon; false if a stop came meanwhile
    my ($delay) = @_;
    my $until = uptime() + $delay;
    while (!defined $stopping) {
        my $left = $until - uptime();
        last if $left <= 0;
        select(undef, undef, undef, $left < 0.5 ? $left : 0.5);
    }
    return !defined $stopping;
}

sub end_like {
    # end the way the process ended, so the dead pane shows its status
    my ($code, $signal) = @_;
    if ($signal ne '-') {
        $SIG{$_} = 'DEFAULT' for qw(HUP TERM INT QUIT ALRM CHLD TTOU);
        # (no core file of the runner in the process's directory)
        system('prlimit', "--pid=$$", '--core=0:') if $core{$signal};
        kill($signal, $$);
        exit(128 + $signal);
    }
    exit($code eq '-' ? 1 : $code);
}

# What only a stop needs, compiled only then: compiling it in every window would cost half a
# millisecond each.
my $cold_code = <<'COLD';
sub marked_as {
    # this run's and this window's markers of $pid, read until both are seen: they are among the window's
    # variables, which a process gets first (sorted by name), before the thousands of shared SYMPH_<SERVICE>_*
    my ($pid) = @_;
    open(my $handle, '<', "/proc/$pid/environ") or return 0;
    my ($run, $process, $rest) = (undef, undef, '');
    while (!defined $run || !defined $process) {
        my $read = sysread($handle, my $chunk, 8192);
        $chunk = '' unless $read;
        my @entries = split /\0/, $rest . $chunk, -1;
        $rest = $read ? pop @entries : '';
        for (@entries) {
            $run = $1 if !defined $run && /^SYMPH_RUN_ID=(.*)$/s;
            $process = $1 if !defined $process && /^SYMPH_PROCESS=(.*)$/s;
        }
        last unless $read;
    }
    return defined $run && defined $process && $run eq $run_id && $process eq $key;
}

sub window_processes {
    # live processes carrying this run's marker and this window's SYMPH_PROCESS, daemons included
    my @found;
    opendir(my $proc, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir $proc) {
        next if $pid == $me || !marked_as($pid);
        open(my $stat, '<', "/proc/$pid/stat") or next;
        my $line = <$stat> // '';
        next if $line =~ /\)\s+Z\s/;
        push @found, $pid;
    }
    return @found;
}

sub kill_window {
    my ($signal) = @_;
    signal_child($signal);
    kill($signal, $_) for window_processes();
}

sub clear_window {
    # after a stop: what the process left in other process groups (daemons) goes too; unless the run is
    # being deleted, which stops every process of it itself (and a hundred runners scanning /proc at once
    # would only slow it down)
    return if -e "$events_path.deleting";
    my @left = window_processes() or return;
    kill_window('TERM');
    while (uptime() < $stop_deadline && window_processes()) {
        select(undef, undef, undef, 0.05);
    }
    kill_window('KILL');
}
1;
COLD

sub cold {
    return if defined &kill_window;
    eval $cold_code or print STDERR "symphony: runner: $@";
}

sub hold {
    # the first start waits for the services (see the top); false: do not start the process
    event('W', $key, uptime());
    my $status;
    {
        local $ENV{PYTHONPATH} = $wait_root . (defined $ENV{PYTHONPATH} && $ENV{PYTHONPATH} ne '' ? ":$ENV{PYTHONPATH}" : '');
        $status = system { $wait_python } $wait_python, '-m', 'symphony.readiness.wait', $wait_spec;
    }
    return 0 if defined $stopping;
    if ($status == -1) {
        print STDERR "symphony: cannot run '$wait_python' to wait for the services: $!; starting anyway\n";
        return 1;
    }
    return 1 unless ($status & 0x7f) == 0 && ($status >> 8) == 3;
    event('F', $key, uptime());
    return 0;
}

if ($shared_env ne '-') {
    my $text;
    if (open(my $handle, '<', $shared_env)) {
        local $/;
        $text = <$handle>;
    }
    if (!defined $text) {
        print STDERR "symphony: cannot read the experiment's shared variables from '$shared_env': $!\n";
        event('E', $key, uptime(), 127, '-', 0);
        end_like(127, '-');
    }
    @shared = split /\0/, $text;
    if ($execve eq '-') {   # (set one by one: see the top)
        for (@shared) {
            my ($name, $value) = split /=/, $_, 2;
            $ENV{$name} = $value;
        }
        @shared = ();
    } else {
        $shared_text = "\0$text";
    }
}

if ($wait_spec ne '-' && !hold()) {
    exit 3 unless defined $stopping;
    cold();
    clear_window();
    exit 1;
}

my ($restarts, $failures) = (0, 0);
while (1) {
    my $started = uptime();
    my $failure = spawn();
    if (defined $failure) {
        print STDERR "symphony: cannot run '$argv[0]': $failure\n";
        event('E', $key, uptime(), 127, '-', 0);
        end_like(127, '-');
    }
    event('S', $key, $child, start_ticks($child), $restarts);
    my ($code, $signal) = wait_child();
    my $ended = uptime();
    my ($restart, $now_failing, $delay) = decide($code, $signal, $ended - $started, $failures);
    if ($restart && !defined $stopping) {
        $failures = $now_failing;
        event('E', $key, $ended, $code, $signal, 1);
        if (backoff_wait($delay)) {
            $restarts++;
            next;
        }
    }
    if (defined $stopping) {
        cold();
        clear_window();
    }
    event('E', $key, $ended, $code, $signal, 0);
    end_like($code, $signal);
}
