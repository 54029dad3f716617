/* The OpenAPI document as JSON (bundled from openapi/hsmgw.yaml at build time), embedded
 * NUL-terminated as hg_openapi_json. OPENAPI_JSON is the bundled file's path. */
	.section .rodata
	.global hg_openapi_json
	.type hg_openapi_json, @object
hg_openapi_json:
	.incbin OPENAPI_JSON
	.byte 0
	.section .note.GNU-stack,"",@progbits
