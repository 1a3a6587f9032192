#include <errno.h>
#include <limits.h>
#include <math.h>

#include "coinfer/kernels.h"

/* Shapes come from model files, so bound them well below int overflow of
 * c*h*w*n products the kernels form in size_t. */
#define CK_DIM_MAX 65536

static int out_dim(int in, int k, int s, int p, int *out)
{
	if (in < 1 || k < 1 || s < 1 || p < 0 || in > CK_DIM_MAX || k > CK_DIM_MAX ||
	    s > CK_DIM_MAX || p > CK_DIM_MAX)
		return -EINVAL;
	if (in + 2 * p < k)
		return -EINVAL;
	*out = (in + 2 * p - k) / s + 1;
	return 0;
}

int ck_conv_desc_init(struct ck_conv_desc *d)
{
	if (d->cin < 1 || d->cout < 1 || d->groups < 1 || d->cin > CK_DIM_MAX ||
	    d->cout > CK_DIM_MAX || d->cin % d->groups || d->cout % d->groups)
		return -EINVAL;
	/* a pad as wide as the kernel would yield outputs that see only padding */
	if (d->ph >= d->kh || d->pw >= d->kw)
		return -EINVAL;
	if (out_dim(d->h, d->kh, d->sh, d->ph, &d->oh) || out_dim(d->w, d->kw, d->sw, d->pw, &d->ow))
		return -EINVAL;
	return 0;
}

int ck_pool_desc_init(struct ck_pool_desc *d)
{
	if (d->c < 1 || d->c > CK_DIM_MAX)
		return -EINVAL;
	if (d->ph >= d->kh || d->pw >= d->kw)
		return -EINVAL;
	if (out_dim(d->h, d->kh, d->sh, d->ph, &d->oh) || out_dim(d->w, d->kw, d->sw, d->pw, &d->ow))
		return -EINVAL;
	return 0;
}

int ck_attn_desc_check(const struct ck_attn_desc *d)
{
	if (d->c < 1 || d->h < 1 || d->w < 1 || d->dqk < 1 || d->c > CK_DIM_MAX ||
	    d->dqk > CK_DIM_MAX || d->h > CK_ATTN_N_MAX || d->w > CK_ATTN_N_MAX)
		return -EINVAL;
	if (d->h * d->w > CK_ATTN_N_MAX || !isfinite(d->scale))
		return -EINVAL;
	return 0;
}
