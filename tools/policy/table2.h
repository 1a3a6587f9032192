/* coinfer-policy table2: seed 003's Table 2 on the cost model (table2.c). */
#ifndef COINFER_TOOLS_POLICY_TABLE2_H
#define COINFER_TOOLS_POLICY_TABLE2_H

/* The command; its exit status (0, 1 a missing file or failed search, 2 usage). */
int cmd_table2(int argc, char **argv);

#endif
