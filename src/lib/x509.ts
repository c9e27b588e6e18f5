// The one entry to @peculiar/x509 (certificates, CSRs). It uses tsyringe, which needs the Reflect
// metadata polyfill loaded before it; ESM evaluates imports in order, so importing x509 only from here
// guarantees that. Node's WebCrypto is the crypto provider.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
