# incept-completion.bash — bash completion for the incept program: its commands, and each
# command's options, asked of the program itself (incept help [COMMAND] --words), so they never
# drift from its option tables. Installed to share/bash-completion/completions/incept; or
# `source scripts/incept-completion.bash` in a shell.
_incept() {
    local cur=${COMP_WORDS[COMP_CWORD]} program=${COMP_WORDS[0]} command=${COMP_WORDS[1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        mapfile -t COMPREPLY < <(compgen -W "$("$program" help --words 2>/dev/null) --help --version" -- "$cur")
    elif [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$("$program" help "$command" --words 2>/dev/null)" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}
complete -o filenames -F _incept incept
