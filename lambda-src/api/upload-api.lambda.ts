/** Lambda entry point of the upload API (placeholder while the API is written). */
export const handler = async () => ({ statusCode: 503 });
