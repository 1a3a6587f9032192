/* What the cost tests share to make a malformed file from a good one. */
#ifndef COINFER_TESTS_COST_TEXT_EDIT_H
#define COINFER_TESTS_COST_TEXT_EDIT_H

/* text with the first occurrence of from replaced by to (malloc'd) */
char *edit(const char *text, const char *from, const char *to);

#endif
