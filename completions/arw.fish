# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_arw_global_optspecs
    string join \n no-restart-daemon config= h/help V/version
end

function __fish_arw_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_arw_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_arw_using_subcommand
    set -l cmd (__fish_arw_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c arw -n "__fish_arw_needs_command" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_needs_command" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_needs_command" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_needs_command" -f -a "runtime" -d 'Inspect and control supervised runtimes'
complete -c arw -n "__fish_arw_needs_command" -f -a "daemon" -d 'Manage the background daemon'
complete -c arw -n "__fish_arw_needs_command" -f -a "chat" -d 'Send a chat message to a runtime through the daemon (OpenAI shape)'
complete -c arw -n "__fish_arw_needs_command" -f -a "events" -d 'Print the daemon\'s events (the same bus `GET /events` serves)'
complete -c arw -n "__fish_arw_needs_command" -f -a "completions" -d 'Print a shell completion script (or write it into --dir)'
complete -c arw -n "__fish_arw_needs_command" -f -a "man" -d 'Print the man page (or write every page into --dir)'
complete -c arw -n "__fish_arw_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "status" -d 'Show every runtime and the node\'s runtime matrix'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "restore" -d 'Restart a runtime under supervision and report the remaining budget'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "smoke" -d 'Prove daemon → supervisor → runtime → chat → matrix on this machine'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "weights" -d 'Fetch, list, verify or locate GGUF weights in the Hugging Face cache'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "stub-llama" -d 'Serve a stub llama-server endpoint (used by smoke runs and tests)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "start" -d 'Start a runtime and wait until it is ready (or fails)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "stop" -d 'Stop a runtime: its whole process group, and it stays offline'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "logs" -d 'Print the end of a runtime\'s log; `--follow` keeps printing'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "reload" -d 'Re-read the runtime manifest; restart only runtimes whose entry changed'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "history" -d 'Show a runtime\'s journaled lifecycle: starts, exits with their causes, automatic restarts, restores and stops, oldest first'
complete -c arw -n "__fish_arw_using_subcommand runtime; and not __fish_seen_subcommand_from status restore smoke weights stub-llama start stop logs reload history help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -l json -d 'Print `{"supervisor": ..., "matrix": ...}` as one JSON document'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -l watch -d 'Keep running and re-render on every pushed `runtime.updated` event'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -l check -d 'Exit 1 when the node status is `error` (for scripts and CI gates)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l id -d 'The runtime to restore (see `arw runtime status`)' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l timeout -d 'Seconds to wait for the runtime to become ready' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l json -d 'Print the result as JSON'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l dry-run -d 'Only say whether a restore is allowed now and when the window resets'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l force -d 'Restore even when the restart budget is exhausted'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from restore" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l mode -d 'stub (default), real, gpu or vision; else `ARW_SMOKE_MODE`, then `MODE`' -r -f -a "stub\t'Built-in stub llama endpoint; needs nothing'
real\t'A real llama-server (`LLAMA_SERVER_BIN`) with `LLAMA_MODEL_PATH`'
gpu\t'llama-server with GPU offload (`LLAMA_GPU_SIMULATE=1`: the stub\'s GPU lines)'
vision\t'A stub llava runtime: describe an image, force a restore, watch it recover'"
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l timeout -d 'Seconds before the run is stopped (0: never); overrides `RUNTIME_SMOKE_TIMEOUT_SECS` and `SMOKE_TIMEOUT_SECS`' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l json -d 'Print the result as one JSON document'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l fail-on-skip -d 'Exit 5 when the outcome is `skipped` or `downgraded`'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from smoke" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l dir -d 'Put the `<file>` link here instead of `$ARW_HOME/cache/models`' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l json -d 'Print one JSON document on stdout (progress still goes to stderr)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l allow-downloads -d 'Allow downloading (same as `LLAMA_ALLOW_DOWNLOADS=1`)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l dry-run -d 'Only report what a fetch would download and whether it fits on disk and in memory'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -f -a "fetch" -d 'Make a model available: reuse a verified copy, else download it (default)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -f -a "list" -d 'Show cached GGUF files: size, whether verified, path'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -f -a "verify" -d 'Re-hash cached files and compare them with their expected sha256'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -f -a "path" -d 'Print the local path to use as `LLAMA_MODEL_PATH`'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from weights" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l host -d 'Address to listen on' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l port -d 'TCP port to listen on (0 picks a free one)' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l model -d 'Model id reported by /v1/models and in completions' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l warmup-ms -d 'Answer 503 "Loading model" for this long after binding' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l fail-after -d 'Answer HTTP 500 to every chat/completion request after the first N' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l crash-after -d 'Exit with code 101, without answering, on the chat/completion request after the first N' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l slow-ms -d 'Delay every response except /health by this many milliseconds' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l hang-health-after -d 'Once ready, answer /health N times, then never again (a wedged runtime)' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l exit-at-start -d 'Print a one-line error and exit with CODE before binding' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l never-ready -d 'Never finish loading: /health answers 503 forever'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l vision -d 'Enable POST /describe and report vision support'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stub-llama" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -l timeout -d 'Seconds to wait for the runtime to become ready' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -l json -d 'Print the result as JSON'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stop" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stop" -l json -d 'Print the result as JSON'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stop" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -s n -l lines -d 'How many of the last lines to print first' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing new lines, across restarts and rotations, until Ctrl-C'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -l json -d '`{"id","path","exists","lines"}`; with `--follow`, one `{"id","line"}` per line'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from logs" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -l timeout -d 'Seconds to wait for the restarted runtimes to be ready again' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -l json -d 'Print the result as JSON'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from reload" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -s n -l lines -d 'Show the newest N events (0: all the journal keeps, up to 10000)' -r
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -l json -d 'Print the history as one JSON document'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from history" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show every runtime and the node\'s runtime matrix'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Restart a runtime under supervision and report the remaining budget'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "smoke" -d 'Prove daemon → supervisor → runtime → chat → matrix on this machine'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "weights" -d 'Fetch, list, verify or locate GGUF weights in the Hugging Face cache'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "stub-llama" -d 'Serve a stub llama-server endpoint (used by smoke runs and tests)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a runtime and wait until it is ready (or fails)'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop a runtime: its whole process group, and it stays offline'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print the end of a runtime\'s log; `--follow` keeps printing'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "reload" -d 'Re-read the runtime manifest; restart only runtimes whose entry changed'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "history" -d 'Show a runtime\'s journaled lifecycle: starts, exits with their causes, automatic restarts, restores and stops, oldest first'
complete -c arw -n "__fish_arw_using_subcommand runtime; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "serve" -d 'Run the daemon in the foreground'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "status" -d 'Is the daemon running, and which build is it?'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "stop" -d 'Stop the daemon and every runtime it supervises'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "restart" -d 'Stop the daemon and start a fresh one'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "reload" -d 'Re-read the runtime manifest; a bad file keeps the running registry'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "logs" -d 'Print the end of the daemon log (or of one runtime\'s log: the same as `arw runtime logs ID`)'
complete -c arw -n "__fish_arw_using_subcommand daemon; and not __fish_seen_subcommand_from serve status stop restart reload logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -l config -d 'Runtime manifest to load (else `ARW_CONFIG`, then `~/.config/arw/runtimes.toml`, then the built-in default)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -l http -d 'Serve the HTTP surface (matrix, metrics, events, dashboard) on ADDRESS:PORT; beats `ARW_HTTP_LISTEN` and `[daemon] http_listen`. Beyond loopback it needs `ARW_ADMIN_TOKEN` or `admin_token_file`' -r
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -l fake-build-id -d 'Report this build id (tests of the replacement path)' -r
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from serve" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from status" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from status" -l json -d 'Print as JSON'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from status" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from stop" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from stop" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from restart" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from restart" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from restart" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from restart" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from reload" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from reload" -l json -d 'Print as JSON'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from reload" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from reload" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -s n -l lines -d 'How many lines' -r
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -l runtime -d 'Show this runtime\'s log instead of the daemon\'s' -r
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from logs" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Run the daemon in the foreground'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "status" -d 'Is the daemon running, and which build is it?'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the daemon and every runtime it supervises'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "restart" -d 'Stop the daemon and start a fresh one'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "reload" -d 'Re-read the runtime manifest; a bad file keeps the running registry'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print the end of the daemon log (or of one runtime\'s log: the same as `arw runtime logs ID`)'
complete -c arw -n "__fish_arw_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand chat" -l runtime -d 'The runtime to talk to (see `arw runtime status`)' -r
complete -c arw -n "__fish_arw_using_subcommand chat" -l system -d 'An optional system message' -r
complete -c arw -n "__fish_arw_using_subcommand chat" -l max-tokens -d 'Stop after this many tokens (at least 1)' -r
complete -c arw -n "__fish_arw_using_subcommand chat" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand chat" -l stream -d 'Stream the reply as it is generated'
complete -c arw -n "__fish_arw_using_subcommand chat" -l json -d 'Print the runtime\'s whole answer (OpenAI shape) as JSON'
complete -c arw -n "__fish_arw_using_subcommand chat" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand chat" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand chat" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand events" -l topics -d 'Only these topics: `runtime.*,models.changed` (`*` for all)' -r
complete -c arw -n "__fish_arw_using_subcommand events" -l after -d 'Start after this event id (an `id` printed earlier)' -r
complete -c arw -n "__fish_arw_using_subcommand events" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand events" -s f -l follow -d 'Keep printing events as they happen'
complete -c arw -n "__fish_arw_using_subcommand events" -l json -d 'One JSON object per line: `{"id","topic","time","data"}`'
complete -c arw -n "__fish_arw_using_subcommand events" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c arw -n "__fish_arw_using_subcommand events" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand completions" -l dir -d 'Write the script into this directory instead of stdout' -r -F
complete -c arw -n "__fish_arw_using_subcommand completions" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand completions" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand completions" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand completions" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand man" -l dir -d 'Write `arw.1` and one page per subcommand into this directory' -r -F
complete -c arw -n "__fish_arw_using_subcommand man" -l config -d 'Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`)' -r -F
complete -c arw -n "__fish_arw_using_subcommand man" -l no-restart-daemon -d 'Never replace a running daemon of another build; fail instead'
complete -c arw -n "__fish_arw_using_subcommand man" -s h -l help -d 'Print help'
complete -c arw -n "__fish_arw_using_subcommand man" -s V -l version -d 'Print version'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "runtime" -d 'Inspect and control supervised runtimes'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "daemon" -d 'Manage the background daemon'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "chat" -d 'Send a chat message to a runtime through the daemon (OpenAI shape)'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "events" -d 'Print the daemon\'s events (the same bus `GET /events` serves)'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "completions" -d 'Print a shell completion script (or write it into --dir)'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "man" -d 'Print the man page (or write every page into --dir)'
complete -c arw -n "__fish_arw_using_subcommand help; and not __fish_seen_subcommand_from runtime daemon chat events completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "status" -d 'Show every runtime and the node\'s runtime matrix'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "restore" -d 'Restart a runtime under supervision and report the remaining budget'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "smoke" -d 'Prove daemon → supervisor → runtime → chat → matrix on this machine'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "weights" -d 'Fetch, list, verify or locate GGUF weights in the Hugging Face cache'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "stub-llama" -d 'Serve a stub llama-server endpoint (used by smoke runs and tests)'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "start" -d 'Start a runtime and wait until it is ready (or fails)'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "stop" -d 'Stop a runtime: its whole process group, and it stays offline'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "logs" -d 'Print the end of a runtime\'s log; `--follow` keeps printing'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "reload" -d 'Re-read the runtime manifest; restart only runtimes whose entry changed'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from runtime" -f -a "history" -d 'Show a runtime\'s journaled lifecycle: starts, exits with their causes, automatic restarts, restores and stops, oldest first'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "serve" -d 'Run the daemon in the foreground'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "status" -d 'Is the daemon running, and which build is it?'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "stop" -d 'Stop the daemon and every runtime it supervises'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "restart" -d 'Stop the daemon and start a fresh one'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "reload" -d 'Re-read the runtime manifest; a bad file keeps the running registry'
complete -c arw -n "__fish_arw_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "logs" -d 'Print the end of the daemon log (or of one runtime\'s log: the same as `arw runtime logs ID`)'
