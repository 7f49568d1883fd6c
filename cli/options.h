/* options.h — the command-line program's tables: each command's options (kind, range, default,
 * help) and the commands themselves (cli/incept.c holds them; the parser reads them there, the
 * usage, per-command help, manual page and shell-completion words in cli/help.c). */
#ifndef INCEPT_CLI_OPTIONS_H
#define INCEPT_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

#define EXIT_USAGE 2

/* The options: what an argument is, and where in `options` it goes. */

typedef enum {
    OPT_FLAG,     /* no value: sets the field to 1 */
    OPT_INT,      /* an integer in [min, max] */
    OPT_NUMBER,   /* a non-negative number, at most 1e6 */
    OPT_STRING,   /* any text: a path, a name */
    OPT_SCHEDULE  /* a learning-rate schedule's name (incept_schedule_valid) */
} opt_kind;

typedef enum { FIELD_INT, FIELD_LONG, FIELD_ULL, FIELD_DOUBLE, FIELD_FLOAT, FIELD_STRING } field_type;

typedef struct {
    const char *name;    /* "--batch" */
    const char *value;   /* the value's name in usage lines ("N"); NULL for a flag */
    opt_kind kind;
    size_t offset;       /* where in `options` */
    field_type field;
    long min, max;       /* OPT_INT's range */
    const char *initial; /* the default, parsed as an argument would be, before the arguments */
    const char *shown;   /* the default as --help tells it when it is not `initial` */
    const char *help;
} opt_spec;


typedef struct {
    const char *name;     /* "" for the demo, run without a command */
    const char *args;     /* the positional arguments in usage lines */
    int max_args;         /* how many there may be; -1: any number */
    const opt_spec *opts;
    int (*run)(const options *o);
    const char *about;    /* lines for the usage */
} command;

extern const command cli_commands[];
extern const size_t cli_n_commands;

/* The overall usage (exit code 0 on stdout, EXIT_USAGE on stderr), one command's options, the
 * manual page incept(1) in roff (man -l), and the words a shell completes: the commands, or
 * (c not NULL) that command's options. */
int cli_usage(FILE *f);
void cli_command_help(FILE *f, const command *c);
void cli_man(FILE *f);
void cli_words(FILE *f, const command *c);

#endif
