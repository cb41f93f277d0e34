/*  tools/cli.h — subcommands of the zflow executable. */
#ifndef ZF_CLI_H
#define ZF_CLI_H

#define ZF_VERSION "0.1.0"

//  `zflow keys create|list|revoke ...`; returns the process exit code.
int zf_cli_keys(int argc, char **argv);

#endif
