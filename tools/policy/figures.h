/* coinfer-policy figures (figures.c): the seed papers' figures on our model. */
#ifndef COINFER_TOOLS_POLICY_FIGURES_H
#define COINFER_TOOLS_POLICY_FIGURES_H
int cmd_figures(int argc, char **argv);
#endif
