/* coinfer-policy train (train-cmd.c). */
#ifndef COINFER_TOOLS_POLICY_TRAIN_CMD_H
#define COINFER_TOOLS_POLICY_TRAIN_CMD_H
int cmd_train(int argc, char **argv);
#endif
