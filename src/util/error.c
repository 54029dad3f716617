/* The error list's lookup tables, generated from HG_ERRORS. */
#include "hsmgw/error.h"

static const struct {
	unsigned status;
	const char *code;
	const char *title;
} errors[HG_ERR_COUNT] = {
#define HG_ERR_ROW(e, status, code, title) [e] = {status, code, title},
    HG_ERRORS(HG_ERR_ROW)
#undef HG_ERR_ROW
};

unsigned hg_err_status(hg_err e)
{
	return (unsigned)e < HG_ERR_COUNT ? errors[e].status : 500;
}

const char *hg_err_code(hg_err e)
{
	return (unsigned)e < HG_ERR_COUNT ? errors[e].code : "internal";
}

const char *hg_err_title(hg_err e)
{
	return (unsigned)e < HG_ERR_COUNT ? errors[e].title : "Internal error";
}
