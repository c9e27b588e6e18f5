// RE2 regexes as Istio reads them: see src/lib/re2.ts (shared with the proxy).
export { compileFullMatch as compileIstioRegex } from '../lib/re2.js';
