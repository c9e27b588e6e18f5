// Plain-text explanations of authorization decisions, for logs and `weft authz check`.
import type { AuthzDecision, AuthzExplanation, AuthzRequest } from './engine.js';
import type { ExtAuthzResult } from './ext-authz.js';

/** "ALLOW: allowed by ALLOW policy ns/a rule 0: ..." / "DENY: denied by ...". */
export function formatDecision(d: AuthzDecision): string {
  return `${d.allowed ? 'ALLOW' : 'DENY'}: ${d.reason}`;
}

export function formatExternal(r: ExtAuthzResult): string {
  return `${r.allowed ? 'ALLOW' : 'DENY'} (${r.outcome}, status ${r.status}): ${r.reason}`;
}

/** One line describing the request as the engine sees it. */
export function formatRequest(req: AuthzRequest): string {
  const from = req.principal ? `peer ${req.principal}` : 'plaintext peer';
  const jwt = req.requestPrincipal ? `, JWT ${req.requestPrincipal}` : '';
  const remote = req.remoteIp && req.remoteIp !== req.sourceIp ? ` (client ${req.remoteIp})` : '';
  const to = `${req.destinationIp}:${req.destinationPort}`;
  if (req.tcp) {
    const sni = req.sni ? `, SNI ${req.sni}` : '';
    return `TCP connection from ${from} at ${req.sourceIp}${remote}${jwt} to ${to}${sni}`;
  }
  return `HTTP ${req.method} ${req.host}${req.path} from ${from} at ${req.sourceIp}${remote}${jwt} to ${to}`;
}

/** The whole trace: request, decision, and every rule in evaluation order with why it did or did not match. */
export function formatExplanation(e: AuthzExplanation): string {
  const lines: string[] = [];
  lines.push(`request:  ${formatRequest(e.request)}`);
  if (e.custom) {
    lines.push(
      `custom:   sent to provider ${e.custom.provider} first (${e.custom.policy} rule ${e.custom.ruleIndex})`,
    );
  }
  lines.push(`decision: ${formatDecision(e.decision)}`);
  if (e.audit.length) lines.push(`audit:    ${e.audit.join(', ')}`);
  if (e.rules.length) lines.push('rules:');
  for (const r of e.rules) {
    const which = r.ruleIndex < 0 ? '' : ` rule ${r.ruleIndex}`;
    lines.push(`  ${r.matched ? '✓' : '✗'} ${r.action} ${r.policy}${which}: ${r.detail}`);
  }
  if (e.warnings.length) {
    lines.push('warnings:');
    for (const w of e.warnings) lines.push(`  ${w}`);
  }
  return lines.join('\n');
}
