/// Shell completion scripts for tokenctl, made from the command table the
/// parser reads (`CommandName`, `OptionName`), so that they cannot drift
/// from the command line they complete: `tokenctl
/// --generate-completion-script bash|zsh|fish` prints one (the spelling of
/// swift-argument-parser's generator, which tokend uses). Profile names come
/// from `tokenctl list` (at the `--socket` given on the line, if any), and
/// are quietly none when the daemon cannot be reached within a second.
public enum CompletionScript {
    public enum Shell: String, CaseIterable, Equatable, Sendable {
        case bash, zsh, fish
    }

    public static let option = "--generate-completion-script"

    public static func render(_ shell: Shell) -> String {
        switch shell {
        case .bash: return bash
        case .zsh: return zsh
        case .fish: return fish
        }
    }

    // MARK: - The table, as words

    static var commandWords: [String] { CommandName.allCases.map(\.rawValue) + ["help"] }
    static var globalWords: [String] { OptionName.global.map(\.rawValue) + ["--help"] }
    /// Options followed by a separate value.
    static var valueOptions: [String] { OptionName.allCases.filter(\.takesValue).map(\.rawValue) }
    /// Commands whose first argument is a profile.
    static var profileCommands: [String] { CommandName.allCases.filter { $0.argument != nil }.map(\.rawValue) }

    static func optionWords(_ command: CommandName) -> [String] { command.options.map(\.rawValue) }

    /// What `help` would say of it, shortened for a completion menu.
    static func summary(_ command: CommandName) -> String {
        switch command {
        case .get: return "print the access token of a profile"
        case .header: return "print the Authorization header for a profile"
        case .refresh: return "fetch a new token now and print it"
        case .status: return "show the state of the profiles"
        case .list: return "list the profiles you may read"
        case .ping: return "check that the daemon answers"
        case .exec: return "run a command with the token in its environment"
        }
    }

    static func summary(_ option: OptionName) -> String {
        switch option {
        case .socket: return "the socket of the daemon"
        case .timeout: return "give up after this many seconds"
        case .minTTL: return "a token valid at least this many seconds"
        case .json: return "print JSON"
        case .env: return "the environment variable for the token"
        }
    }

    // MARK: - bash

    static var bash: String {
        var perCommand = ""
        for command in CommandName.allCases {
            perCommand += "        \(command.rawValue)) options=\"\(optionWords(command).joined(separator: " "))\" ;;\n"
        }
        return """
            # bash completion for tokenctl (tokenctl \(option) bash)

            # The names `tokenctl list` gives that start with $2, one a line; a
            # name is never expanded (compgen -W would run a $(...) in it).
            _tokenctl_profiles() {
                local name
                while IFS= read -r name; do
                    [[ $name =~ ^[A-Za-z0-9._-]{1,64}$ && $name == "$2"* ]] && printf '%s\\n' "$name"
                done < <(tokenctl ${1:+--socket "$1"} --timeout 1 list 2>/dev/null)
            }

            _tokenctl() {
                local cur=${COMP_WORDS[COMP_CWORD]} prev=
                ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
                # bash splits --opt=VALUE at "=": the option is a word further back.
                if [[ $cur == = ]]; then
                    cur=
                elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
                    prev=${COMP_WORDS[COMP_CWORD-2]}
                fi
                COMPREPLY=()
                case $prev in
                    --socket) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
                    \(valueOptions.filter { $0 != "--socket" }.joined(separator: "|"))) return 0 ;;
                esac
                local i word command= socket= positionals=0
                for ((i = 1; i < COMP_CWORD; i++)); do
                    word=${COMP_WORDS[i]}
                    case $word in
                        \(valueOptions.joined(separator: "|")))
                            ((i++))
                            [[ ${COMP_WORDS[i]} == = ]] && ((i++))
                            [[ $word == --socket ]] && socket=${COMP_WORDS[i]} ;;
                        --)
                            if [[ $command == exec ]]; then
                                COMPREPLY=($(compgen -c -- "$cur"))
                                return 0
                            fi ;;
                        -*) ;;
                        *) if [[ -z $command ]]; then command=$word; else ((positionals++)); fi ;;
                    esac
                done
                # The socket as typed: without quotes, ~ for the home directory.
                socket=$(printf '%s' "$socket" | tr -d "\\\"'")
                socket=${socket/#\\~/$HOME}
                if [[ -z $command ]]; then
                    if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "\(globalWords.joined(separator: " "))" -- "$cur"))
                    else
                        COMPREPLY=($(compgen -W "\(commandWords.joined(separator: " "))" -- "$cur"))
                    fi
                    return 0
                fi
                local options=
                case $command in
            \(perCommand)    esac
                if [[ $cur == -* ]]; then
                    COMPREPLY=($(compgen -W "$options \(globalWords.joined(separator: " "))" -- "$cur"))
                    return 0
                fi
                case $command in
                    \(profileCommands.joined(separator: "|")))
                        ((positionals == 0)) && mapfile -t COMPREPLY < <(_tokenctl_profiles "$socket" "$cur") ;;
                    help) ((positionals == 0)) && COMPREPLY=($(compgen -W "\(CommandName.allCases.map(\.rawValue).joined(separator: " "))" -- "$cur")) ;;
                esac
                return 0
            }
            complete -F _tokenctl tokenctl

            """
    }

    // MARK: - zsh

    static var zsh: String {
        let describedCommands = CommandName.allCases.map { "'\($0.rawValue):\(summary($0))'" }.joined(separator: " ")
        var perCommand = ""
        for command in CommandName.allCases where !command.options.isEmpty {
            let words = command.options.map { "'\($0.rawValue):\(summary($0))'" }.joined(separator: " ")
            perCommand += "    \(command.rawValue)) options=(\(words)) ;;\n"
        }
        let globals = OptionName.global.map { "'\($0.rawValue):\(summary($0))'" }.joined(separator: " ") + " '--help:show help'"
        return """
            #compdef tokenctl
            # zsh completion for tokenctl (tokenctl \(option) zsh)

            # The names `tokenctl list` gives (valid profile names only).
            _tokenctl_profiles() {
              setopt localoptions extendedglob
              local -a names socket
              [[ -n $1 ]] && socket=(--socket "$1")
              names=(${(f)"$(tokenctl $socket --timeout 1 list 2>/dev/null)"})
              names=(${(M)names:#[A-Za-z0-9._-]##})
              (( ${#names} )) && compadd -a names
            }

            _tokenctl_main() {
              local i word command= socket= positionals=0
              local -a commands options globals
              commands=(\(describedCommands) 'help:show help for a command')
              globals=(\(globals))
              case ${words[CURRENT-1]} in
                --socket) _files; return ;;
                \(valueOptions.filter { $0 != "--socket" }.joined(separator: "|"))) return ;;
              esac
              for (( i = 2; i < CURRENT; i++ )); do
                word=${words[i]}
                case $word in
                  --socket) socket=${(Q)words[i+1]}; (( i++ )) ;;
                  --socket=*) socket=${(Q)word#--socket=} ;;
                  \(valueOptions.filter { $0 != "--socket" }.joined(separator: "|"))) (( i++ )) ;;
                  --)
                    if [[ $command == exec ]]; then
                      shift $i words
                      (( CURRENT -= i ))
                      _normal
                      return
                    fi ;;
                  -*) ;;
                  *) if [[ -z $command ]]; then command=$word; else (( positionals++ )); fi ;;
                esac
              done
              if [[ -z $command ]]; then
                if [[ $PREFIX == -* ]]; then _describe -t options option globals; else _describe -t commands command commands; fi
                return
              fi
              case $command in
            \(perCommand)  esac
              if [[ $PREFIX == -* ]]; then
                options+=($globals)
                _describe -t options option options
                return
              fi
              case $command in
                \(profileCommands.joined(separator: "|"))) (( positionals == 0 )) && _tokenctl_profiles "$socket" ;;
                help) (( positionals == 0 )) && _describe -t commands command commands ;;
              esac
            }

            _tokenctl_main "$@"

            """
    }

    // MARK: - fish

    static var fish: String {
        var lines = """
            # fish completion for tokenctl (tokenctl \(option) fish)

            # The words of the line so far that are not options or their
            # values, one a line; "--" ends them (what follows is exec's command).
            function __tokenctl_words
                set -l tokens (commandline -opc)
                set -e tokens[1]
                set -l skip 0
                for token in $tokens
                    if test $skip = 1
                        set skip 0
                        continue
                    end
                    switch $token
                        case \(valueOptions.joined(separator: " "))
                            set skip 1
                        case '--'
                            echo --
                            return
                        case '-*'
                        case '*'
                            echo $token
                    end
                end
            end

            # The command word of the line so far, or nothing.
            function __tokenctl_command
                set -l words (__tokenctl_words)
                test (count $words) -gt 0; and test $words[1] != --; and echo $words[1]
            end

            function __tokenctl_needs_command
                not __tokenctl_command >/dev/null
            end

            function __tokenctl_using
                set -l command (__tokenctl_command)
                and contains -- $command $argv
            end

            # Whether the next word is the command's first argument.
            function __tokenctl_wants_argument
                set -l words (__tokenctl_words)
                test (count $words) = 1; and test $words[1] != --
            end

            # The profiles, from the daemon at the --socket of the line if any
            # (valid profile names only).
            function __tokenctl_profiles
                set -l tokens (commandline -opc)
                set -l socket
                if set -l index (contains -i -- --socket $tokens)
                    set socket --socket $tokens[(math $index + 1)]
                else if set -l given (string match -r -- '^--socket=(.+)$' $tokens)
                    set socket --socket $given[2]
                end
                tokenctl $socket --timeout 1 list 2>/dev/null | string match -r '^[A-Za-z0-9._-]{1,64}$'
            end

            complete -c tokenctl -f

            """
        for command in CommandName.allCases {
            lines += "complete -c tokenctl -n __tokenctl_needs_command -a \(command.rawValue) -d '\(summary(command))'\n"
        }
        lines += "complete -c tokenctl -n __tokenctl_needs_command -a help -d 'show help for a command'\n"
        lines += "complete -c tokenctl -l socket -r -F -d '\(summary(.socket))'\n"
        lines += "complete -c tokenctl -l timeout -x -d '\(summary(.timeout))'\n"
        lines += "complete -c tokenctl -s h -l help -d 'show help'\n"
        for command in CommandName.allCases {
            for option in command.options {
                let name = String(option.rawValue.dropFirst(2))
                lines += "complete -c tokenctl -n '__tokenctl_using \(command.rawValue)' -l \(name)\(option.takesValue ? " -x" : "") -d '\(summary(option))'\n"
            }
        }
        lines += "complete -c tokenctl -n '__tokenctl_using \(profileCommands.joined(separator: " ")); and __tokenctl_wants_argument' -a '(__tokenctl_profiles)' -d profile\n"
        lines += "complete -c tokenctl -n '__tokenctl_using help; and __tokenctl_wants_argument' -a '\(CommandName.allCases.map(\.rawValue).joined(separator: " "))'\n"
        return lines
    }
}
