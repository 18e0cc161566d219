/** An S3 error response: the HTTP status, S3's error code and message, and the resource named. */
export class S3Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly resource?: string) {
    super(message);
  }
}
