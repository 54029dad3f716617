/* hsmgw — payment cryptography. This part: ISO 9564-1 PIN block formats as pure functions
 * (no keys): building and strictly checking the clear PIN field and PAN field of formats
 * 0, 1, 3 (8 bytes, TDES) and 4 (16 bytes, AES). Encryption and translation sit on top of
 * them and use the HSM.
 *
 * Every decoding failure is one answer, HG_E_INVALID, whatever check failed (control nibble,
 * length, digit, fill, PAN): a caller, or an attacker probing with chosen blocks, learns
 * nothing about which part was wrong. Buffers that held a PIN are wiped with
 * OPENSSL_cleanse. */
#ifndef HSMGW_PAYMENTS_H
#define HSMGW_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hsmgw/error.h"
#include "hsmgw/util.h"

enum hg_pin_format { HG_PIN_ISO0, HG_PIN_ISO1, HG_PIN_ISO3, HG_PIN_ISO4, HG_PIN_FORMAT_COUNT };

#define HG_PIN_MIN 4
#define HG_PIN_MAX 12

/* "ISO-0" … "ISO-4" ↔ the enum. Returns false for another name. */
bool pin_format_parse(const char *name, enum hg_pin_format *out);
const char *pin_format_name(enum hg_pin_format f);
/* 8 for formats 0, 1, 3; 16 for format 4. */
size_t pin_block_len(enum hg_pin_format f);
/* Whether the format binds the block to the PAN (0, 3, 4: yes; 1: no). ISO 9564 forbids
 * translating a PAN-bound block to format 1. */
bool pin_format_pan_bound(enum hg_pin_format f);

/* A PAN as ISO 9564 takes it: 12 to 19 decimal digits. */
bool pin_pan_ok(const char *pan);

/* Formats 0, 1, 3: the clear 8-byte PIN block for pin (4–12 digits) and, for 0 and 3, pan.
 * Fill digits of 1 and 3 are random. */
hg_err pin_block_encode(enum hg_pin_format f, const char *pin, const char *pan, uint8_t out[8]) HG_WARN_UNUSED;
/* The reverse, strictly; pin receives the digits, NUL-terminated. */
hg_err pin_block_decode(enum hg_pin_format f, const uint8_t in[8], const char *pan,
			char pin[HG_PIN_MAX + 1]) HG_WARN_UNUSED;

/* Format 4 (ISO 9564-1:2017) has two 16-byte fields that are combined under AES:
 *   block = E(K, E(K, pin_field) XOR pan_field);  pin_field = D(K, D(K, block) XOR pan_field). */
hg_err pin_iso4_pin_field(const char *pin, uint8_t out[16]) HG_WARN_UNUSED;
hg_err pin_iso4_pan_field(const char *pan, uint8_t out[16]) HG_WARN_UNUSED;
hg_err pin_iso4_pin_from_field(const uint8_t field[16], char pin[HG_PIN_MAX + 1]) HG_WARN_UNUSED;

#endif
