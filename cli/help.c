/* help.c — what the command-line program says about itself, all read from its tables
 * (options.h): the usage, each command's options with their defaults, the manual page incept(1)
 * in roff and the words bash completes (scripts/incept-completion.bash). */
#include <stdio.h>
#include <string.h>

#include "incept.h"
#include "options.h"

/* Prints the words of `text` (split at `breaks`: " ", or "" for one word) after column `col`,
 * each after a space, wrapping to `indent` before a word that would pass column 100; returns the
 * column after them. */
static int put_wrapped(FILE *f, const char *text, const char *breaks, int col, int indent)
{
    while (*text) {
        int len = (int)strcspn(text, breaks);
        if (col > indent && col + 1 + len > 100) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > 0) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", len, text);
        col += len;
        text += len;
        text += strspn(text, breaks);
    }
    return col;
}

/* "  incept train [MODEL] [--epochs E] ..." wrapped under the command's name. */
static void print_synopsis(FILE *f, const command *c, int with_options)
{
    char head[96], item[128];
    snprintf(head, sizeof head, "  incept%s%s%s%s", c->name[0] ? " " : "", c->name,
             c->args[0] ? " " : "", c->args);
    fputs(head, f);
    int col = (int)strlen(head), indent = (int)strlen(c->name) + 10;
    for (const opt_spec *s = c->opts; with_options && s->name; s++) {
        snprintf(item, sizeof item, s->value ? "[%s %s]" : "[%s]", s->name, s->value);
        col = put_wrapped(f, item, "", col, indent);
    }
    fputc('\n', f);
}

static void print_lines(FILE *f, const char *text, int indent)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

int cli_usage(FILE *f)
{
    fprintf(f, "incept %s — the Inception architecture (GoogLeNet) in C\n\nusage:\n", INCEPT_VERSION);
    for (size_t c = 0; c < cli_n_commands; c++) {
        print_synopsis(f, &cli_commands[c], 1);
        print_lines(f, cli_commands[c].about, 6);
    }
    fputs("\nMODEL is an .onnx file or a network description (models/*.incept); a description takes\n"
          "its weights from --weights FILE (else He initialization from seed 0). An option a\n"
          "command does not take is an error (exit code 2). incept COMMAND --help (or incept help\n"
          "COMMAND) lists the command's options with their defaults. --width, --round, --depth,\n"
          "--resolution and --split make a variant of a description (see incept variants).\n", f);
    return f == stdout ? 0 : EXIT_USAGE;
}

void cli_command_help(FILE *f, const command *c)
{
    fprintf(f, "usage: incept%s%s%s%s [options]\n\n", c->name[0] ? " " : "", c->name,
            c->args[0] ? " " : "", c->args);
    print_lines(f, c->about, 2);
    fputs("\noptions:\n", f);
    for (const opt_spec *s = c->opts; s->name; s++) {
        char left[96];
        snprintf(left, sizeof left, s->value ? "%s %s" : "%s", s->name, s->value);
        const char *def = s->initial ? s->initial : s->shown;
        char text[512];
        snprintf(text, sizeof text, "%s%s%s%s", s->help, def ? " (default: " : "", def ? def : "",
                 def ? ")" : "");
        int col = fprintf(f, "  %s", left);
        if (col > 30) { /* a long value name (the schedules): the help on the next line */
            fprintf(f, "\n%30s", "");
        } else {
            fprintf(f, "%*s", 30 - col, "");
        }
        put_wrapped(f, text, " ", 30, 31);
        fputc('\n', f);
    }
    fprintf(f, "  %-27s  this help\n", "-h, --help");
}

/* Text for roff: backslashes and leading dots or quotes escaped, hyphens as \-. */
static void roff(FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-')
            fputs("\\-", f);
        else if ((*p == '.' || *p == '\'') && (p == text || p[-1] == '\n'))
            fprintf(f, "\\&%c", *p);
        else
            fputc(*p, f);
    }
}

/* The default of an option as its help says it. */
static const char *default_of(const opt_spec *s) { return s->initial ? s->initial : s->shown; }

void cli_man(FILE *f)
{
    fprintf(f, ".TH INCEPT 1 \"\" \"incept %s\" \"User Commands\"\n", INCEPT_VERSION);
    fputs(".SH NAME\nincept \\- the Inception architecture (GoogLeNet) in C: build, train, run, "
          "import and export\n.SH SYNOPSIS\n", f);
    for (size_t c = 0; c < cli_n_commands; c++) {
        fputs(".B incept", f);
        if (cli_commands[c].name[0])
            fprintf(f, " %s", cli_commands[c].name);
        fputc('\n', f);
        if (cli_commands[c].args[0]) {
            fputs(".I ", f);
            roff(f, cli_commands[c].args);
            fputc('\n', f);
        }
        fputs("[\\fIoptions\\fR]\n.br\n", f);
    }
    fputs(".SH DESCRIPTION\nMODEL is an .onnx file or a network description (models/*.incept); a "
          "description takes its weights from \\fB\\-\\-weights\\fR FILE (else He initialization "
          "from seed 0). An option a command does not take is an error. \\fB\\-\\-width\\fR, "
          "\\fB\\-\\-round\\fR, \\fB\\-\\-depth\\fR, \\fB\\-\\-resolution\\fR and "
          "\\fB\\-\\-split\\fR make a variant of a description (a narrower or wider network, "
          "modules dropped or repeated, another input size, another split between a module's "
          "branches); \\fBincept variants\\fR lists what variants cost.\n.SH COMMANDS\n", f);
    for (size_t c = 0; c < cli_n_commands; c++) {
        const command *cmd = &cli_commands[c];
        fprintf(f, ".SS \"incept%s%s\"\n", cmd->name[0] ? " " : "", cmd->name);
        roff(f, cmd->about);
        fputc('\n', f);
        for (const opt_spec *s = cmd->opts; s->name; s++) {
            fputs(".TP\n.B ", f);
            roff(f, s->name);
            if (s->value) {
                fputs(" \\fI", f);
                roff(f, s->value);
                fputs("\\fR", f);
            }
            fputc('\n', f);
            roff(f, s->help);
            if (default_of(s)) {
                fputs(" (default: ", f);
                roff(f, default_of(s));
                fputc(')', f);
            }
            fputc('\n', f);
        }
    }
    fputs(".SH EXIT STATUS\n0 on success; 1 when the library fails (a file that cannot be read, "
          "a model that does not fit, an allocation that fails: the message names the file, node "
          "or field); 2 for a usage error.\n"
          ".SH ENVIRONMENT\n.TP\n.B INCEPT_ISA\ngeneric, avx2 or avx512: the kernels to use instead of "
          "the best this CPU runs.\n"
          ".SH EXAMPLES\n.nf\nincept train \\-\\-out fashion.weights\n"
          "incept classify models/fashion.incept shirt.png \\-\\-weights fashion.weights\n"
          "incept summary googlenet.onnx\nincept bench googlenet.onnx \\-\\-batch 16\n"
          "incept variants models/googlenet.incept \\-\\-width 0.25,0.5,0.75,1\n.fi\n"
          ".SH SEE ALSO\nThe README of the source distribution: the C API, how it works, measured "
          "performance.\n", f);
}

void cli_words(FILE *f, const command *c)
{
    if (!c) {
        for (size_t k = 0; k < cli_n_commands; k++)
            if (cli_commands[k].name[0])
                fprintf(f, "%s\n", cli_commands[k].name);
        return;
    }
    for (const opt_spec *s = c->opts; s->name; s++)
        fprintf(f, "%s\n", s->name);
    fputs("--help\n", f);
}
