// Gateway API client certificate validation (GEP-91), in the two forms real manifests use:
//  - Gateway `spec.tls.frontend` (current releases): `default.validation` for every HTTPS listener, and
//    `perPort[].tls.validation` overriding it for the listeners of one port;
//  - listener `tls.frontendValidation` (older experimental releases), kept in the listener schema.
// `spec.tls.backend` (the Gateway's client certificate towards backends) is accepted as written.
import { z } from 'zod';
import { loose, port, strict } from './common.js';
import { group, kindName } from './gateway-api-routes.js';

export const caCertificateRef = strict({
  group,
  kind: kindName,
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63).optional(),
});

export const frontendValidation = strict({
  caCertificateRefs: z
    .array(caCertificateRef)
    .min(1, { error: 'caCertificateRefs needs at least one reference' })
    .max(8),
  mode: z.enum(['AllowValidOnly', 'AllowInsecureFallback']).optional(),
});

export const gatewayTlsConfig = strict({
  frontend: strict({
    default: strict({ validation: frontendValidation.optional() }),
    perPort: z
      .array(strict({ port, tls: strict({ validation: frontendValidation.optional() }) }))
      .max(64)
      .optional(),
  })
    .superRefine((f, ctx) => {
      const ports = (f.perPort ?? []).map((p) => p.port);
      ports.forEach((p, i) => {
        if (ports.indexOf(p) !== i)
          ctx.addIssue({
            code: 'custom',
            path: ['perPort', i, 'port'],
            message: `port ${p} has more than one perPort entry: each port takes one TLS configuration`,
          });
      });
    })
    .optional(),
  backend: loose.optional(),
});
