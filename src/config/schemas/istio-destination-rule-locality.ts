// DestinationRule loadBalancer.localityLbSetting, checked as Istio's webhook does
// (validateLocalityLbSetting): `distribute` and `failover` exclude each other, each `to` map's weights
// are 1..100 and add up to 100, `*` may only end a locality, failover regions differ and have no `*`.
import { z } from 'zod';
import { intRange, nonEmptyString, show, strict } from './common.js';

/** `region/zone/subzone`; `*` alone or as the last segment. */
const localityPattern = nonEmptyString.superRefine((s, ctx) => {
  const parts = s.split('/');
  const star = parts.indexOf('*');
  if (parts.length > 3 || parts.some((p) => p === '') || (star >= 0 && star !== parts.length - 1))
    ctx.addIssue({
      code: 'custom',
      message: `must be region, region/zone or region/zone/subzone, with "*" only as the last part (got ${show(s)})`,
    });
});

const distribute = strict({
  from: localityPattern,
  to: z.record(z.string(), intRange(1, 100)).superRefine((to, ctx) => {
    for (const k of Object.keys(to)) {
      const r = localityPattern.safeParse(k);
      if (!r.success) ctx.addIssue({ code: 'custom', path: [k], message: r.error.issues[0]!.message });
    }
    const total = Object.values(to).reduce((a, b) => a + b, 0);
    if (total !== 100) ctx.addIssue({ code: 'custom', message: `weights must add up to 100 (got ${total})` });
  }),
});

const failover = strict({ from: nonEmptyString, to: nonEmptyString }).superRefine((f, ctx) => {
  if (f.from.includes('*') || f.to.includes('*'))
    ctx.addIssue({ code: 'custom', message: 'failover regions take no "*" wildcard' });
  if (f.from === f.to)
    ctx.addIssue({
      code: 'custom',
      path: ['to'],
      message: `must be another region than from (got ${show(f.to)})`,
    });
});

export const localityLbSetting = strict({
  enabled: z.boolean().optional(),
  distribute: z.array(distribute).optional(),
  failover: z.array(failover).optional(),
  failoverPriority: z.array(nonEmptyString).optional(),
}).superRefine((l, ctx) => {
  if (l.distribute?.length && l.failover?.length)
    ctx.addIssue({ code: 'custom', message: 'cannot set both distribute and failover' });
});
