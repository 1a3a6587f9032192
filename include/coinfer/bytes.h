/* Little-endian loads and stores of file and wire fields, byte by byte so that
 * they hold on any host and alignment (compilers fold them to single moves on
 * little-endian machines). Shared by the model loader, the codec frame, the wire
 * protocol, policy files and the appliance. */
#ifndef COINFER_BYTES_H
#define COINFER_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t le_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_rd64(const uint8_t *p)
{
	return (uint64_t)le_rd32(p) | (uint64_t)le_rd32(p + 4) << 32;
}

static inline float le_rdf(const uint8_t *p)
{
	uint32_t u = le_rd32(p);
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline void le_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static inline void le_wr64(uint8_t *p, uint64_t v)
{
	le_wr32(p, (uint32_t)v);
	le_wr32(p + 4, (uint32_t)(v >> 32));
}

static inline void le_wrf(uint8_t *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	le_wr32(p, u);
}

#endif
