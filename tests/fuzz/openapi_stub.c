/* The fuzz targets link the library without the embedded OpenAPI document (src/api/
 * openapi_blob.S needs the bundled build/openapi.json, hence Node.js); no target serves it. */
const char hg_openapi_json[] = "{}";
