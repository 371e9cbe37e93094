/**
 * Last line of defence against secrets in output: userinfo in URLs, bearer/basic values,
 * password-like query parameters. Library messages are built not to hold secrets; this catches
 * what a server or a third-party error might echo back.
 */
export function redact(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, '$1***:***@')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 ***')
    .replace(
      /([?&](?:token|access_token|password|secret|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|Signature|sig|_state)=)[^&\s]+/gi,
      '$1***',
    )
}
