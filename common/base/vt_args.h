/* vt_args.h: the command line every vggtap program shares: its exit
 * statuses, one option loop (getopt_long) that says the same thing for the
 * same mistake in every program (an unknown option gets "did you mean"),
 * --help, --version, --config, and how a usage error or an error is printed.
 *
 *   static const vt_program program = {"vggtap-x", usage, options, "x"};
 *   if (vt_args_start(&program, &argc, &argv) < 0) return vt_exit_usage(&program);
 *   for (int c; (c = vt_args_next(&program, argc, argv)) != -1;)
 *     switch (c) { case ...: ...; default: return vt_exit_usage(&program); }
 */
#ifndef VT_ARGS_H
#define VT_ARGS_H

#include <getopt.h>

/* Exit statuses; each program's --help says which it uses and when. */
enum {
  VT_EXIT_OK = 0,
  VT_EXIT_ERROR = 1,          /* bad input, setup or I/O: nothing lost */
  VT_EXIT_USAGE = 2,          /* a bad command line or config */
  VT_EXIT_INPUTS_FAILED = 3,  /* done, but images or rows failed (all, or any with --strict) */
  VT_EXIT_INTERRUPTED = 130   /* stopped by SIGINT or SIGTERM; run again to resume */
};

/* Option values (struct option.val) of the flags vt_args_next handles
 * itself, above any character and below the program's own. */
enum { VT_OPT_HELP = 0x1000, VT_OPT_VERSION, VT_OPT_BAD, VT_OPT_FIRST_FREE = 0x1100 };
#define VT_OPTIONS_HELP_VERSION \
  {"help", no_argument, 0, VT_OPT_HELP}, {"version", no_argument, 0, VT_OPT_VERSION}

typedef struct {
  const char *name;               /* "vggtap-train" */
  const char *usage;              /* the --help text */
  const struct option *options;   /* ends with {0}; holds VT_OPTIONS_HELP_VERSION */
  const char *config_section;     /* "train": takes --config FILE (vt_config.h); NULL if not */
} vt_program;

/* Starts reading argv: with a config section, a --config FILE in argv is
 * expanded into flags first (vt_config_apply: *argc and *argv change). 0, or
 * -1 + "FILE:LINE: reason". May be called again for another argv. */
int vt_args_start(const vt_program *p, int *argc, char ***argv);

/* The next option's val (optarg holds its value), or -1 when the options
 * are done (optind: the first operand). --help and --version print to
 * standard output and exit 0. VT_OPT_BAD + a reason for an unknown option
 * ("unknown option '--pol' (did you mean --pool?)"), an ambiguous
 * abbreviation, a missing value or a value given to a switch. */
int vt_args_next(const vt_program *p, int argc, char **argv);

/* Prints "NAME: reason" (with the config file and line when the option came
 * from a config) and "(see NAME --help)" on standard error; returns
 * VT_EXIT_USAGE. The reason is vt_failure_reason(). */
int vt_exit_usage(const vt_program *p);
/* Prints "NAME: reason" on standard error; returns VT_EXIT_ERROR. */
int vt_exit_error(const vt_program *p);

#endif
