// The proxy's side of the push protocol. It obtains a certificate (bootstrap token first, its own
// certificate for renewals), holds one stream open, applies each snapshot through `onSnapshot` and ACKs
// or NACKs it, heartbeats, and reconnects with jittered exponential backoff. While the control plane is
// away the proxy keeps serving its last good snapshot and certificate. A certificate the control plane no
// longer accepts (expired while the process was stopped or the machine slept) is replaced with a new
// bootstrap token, when whoever runs the proxy can give one (identity/token-source.ts).
import { isoTime, optionalIso } from '../../lib/time.js';
import { ErrorCodes, WeftError, errorMessage, isWeftError } from '../../lib/errors.js';
import { oncePer } from '../../lib/once-per.js';
import {
  DISCOVERY_SERVICE,
  HEARTBEAT_INTERVAL_MS,
  type CertificateRequest,
  type CertificateResponse,
  type ControlMessage,
  type ProxyHello,
  type ProxyMessage,
  type TrustBundleMessage,
} from '../../model/discovery.js';
import type { ProxySnapshot } from '../../model/snapshot.js';
import { generateKeyAndCsrIsolated } from '../identity/csr-process.js';
import { HELPER_NICE } from '../helper-threads.js';
import { renewDelayMs } from '../identity/renew.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { TokenSource } from '../identity/token-source.js';
import type { Logger } from '../../lib/logger.js';
import { GrpcChannel, GrpcStatus, type ChannelTls, type GrpcCall, type GrpcError } from './grpc-h2.js';

// The control plane's serving certificate names `weft-control-plane`; verify that name (not the IP we dial).
const SERVER_NAME = 'weft-control-plane';
type Stream = GrpcCall<ProxyMessage, ControlMessage>;

export interface ControlClientOptions {
  address: string; // host:port of the control plane's discovery port
  rootPem: string; // trust anchor for the control plane's serving certificate
  token?: string; // single-use bootstrap token
  /** A new bootstrap token, for when the current certificate is no longer accepted. */
  reissueToken?: TokenSource;
  spiffeId: string; // the identity we expect (used in the CSR; the CA decides)
  hello: Omit<ProxyHello, 'type' | 'version'>;
  identity: WorkloadIdentity;
  /** Apply a snapshot; throw to NACK it (the previous one stays in force). */
  onSnapshot: (s: ProxySnapshot) => Promise<void>;
  log: Logger;
}

export class ControlClient {
  private stream: Stream | undefined;
  private channel: GrpcChannel | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** When the next renewal (or retry) is due, by the wall clock; checked by `wallClock`. */
  private renewAt = Infinity;
  private renewAttempt = 0;
  private wallClock: NodeJS.Timeout | undefined;
  private started = false;
  /** The key and CSR for the next renewal, made ahead: making them takes a child process
   *  (csr-process.ts), which under load can take seconds, and a renewal due at half life (or pushed by
   *  a root rotation) should cost only the CA's round trip. */
  private nextCsr: NextCsr | undefined;
  private nextCsrTimer: NodeJS.Timeout | undefined;
  /** A certificate request in flight: renewals triggered meanwhile (timer, trust-bundle push) join it. */
  private requesting: Promise<void> | undefined;
  private attempt = 0;
  private closed = false;
  private version: string | undefined;
  private ready: boolean | undefined;
  connected = false;
  // Counted for the proxy's metrics (weft_proxy_config_*).
  private acks = 0;
  private nacks = 0;

  constructor(private readonly opts: ControlClientOptions) {}

  /** First certificate: retried until the control plane answers (it may still be starting). */
  async bootstrap(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.requestCertificate(this.opts.token);
        return;
      } catch (e) {
        const err = e as Partial<GrpcError> & Error;
        if (err.code === GrpcStatus.UNAUTHENTICATED || err.code === GrpcStatus.PERMISSION_DENIED) throw e;
        if (this.closed) throw e;
        this.opts.log.warn('control plane not reachable yet, retrying', { error: err.message });
        await new Promise((r) => setTimeout(r, backoff(i)));
      }
    }
  }

  private channelTls(withCert: boolean): ChannelTls {
    // Trust what we started with plus the bundle the CA sent with our certificate: after a root
    // rotation the control plane's serving certificate may chain to the new root only.
    const ready = this.opts.identity.ready;
    const ca = ready ? `${this.opts.rootPem}\n${this.opts.identity.current.rootPem}` : this.opts.rootPem;
    if (!withCert || !ready) return { ca, servername: SERVER_NAME };
    const m = this.opts.identity.current;
    return { ca, servername: SERVER_NAME, key: m.keyPem, cert: m.certChain.join('\n') };
  }

  private requestCertificate(token?: string): Promise<void> {
    this.requesting ??= this.certify(token).finally(() => (this.requesting = undefined));
    return this.requesting;
  }

  /**
   * Makes the next key and CSR a little later, at low CPU priority. Made at once, it started a Node
   * process in every proxy of a mesh just as the mesh came up and traffic began: on the bench's shared
   * core the first requests through a fresh mesh then waited 0.3–0.6 s.
   */
  private prepareNextCsr(): void {
    if (this.nextCsrTimer) clearTimeout(this.nextCsrTimer);
    const leaf = this.opts.identity.current.certChain[0]!;
    const renewIn = renewDelayMs(leaf);
    // A renewal due within seconds (short test lifetimes; a leaf a root rotation cut short, whose
    // renewal falls a second or two before it expires) cannot wait: made at once and at normal
    // priority, and the renewal waits for it rather than start a second child.
    const urgent = renewIn < URGENT_RENEWAL_MS;
    const make = () => {
      this.nextCsrTimer = undefined;
      if (this.closed) return;
      const slot: NextCsr = { urgent };
      this.nextCsr = slot;
      slot.making = generateKeyAndCsrIsolated(this.opts.spiffeId, urgent ? 0 : HELPER_NICE).then(
        (made) => (slot.made = made),
        () => undefined, // the renewal makes its own
      );
    };
    if (urgent) return make();
    this.nextCsrTimer = setTimeout(make, Math.min(NEXT_CSR_DELAY_MS, renewIn / 4));
    this.nextCsrTimer.unref();
  }

  private async certify(token?: string): Promise<void> {
    // A CSR already made, or one being made at normal priority. Not the low-priority child still
    // under way: it may be waiting for a busy core, and a renewal must not wait for it; this request
    // then makes its own at normal priority.
    const slot = this.nextCsr;
    this.nextCsr = undefined;
    const prepared = slot?.made ?? (slot?.urgent ? await slot.making : undefined);
    if (this.nextCsrTimer) clearTimeout(this.nextCsrTimer);
    this.nextCsrTimer = undefined;
    const { keyPem, csrPem } = prepared ?? (await generateKeyAndCsrIsolated(this.opts.spiffeId));
    const channel = new GrpcChannel(this.opts.address, this.channelTls(!token));
    try {
      const res = await channel.unary<CertificateRequest, CertificateResponse>(
        DISCOVERY_SERVICE.certificate.path,
        SERVER_NAME,
        { csr: csrPem, proxyId: this.opts.hello.id, ...(token ? { token } : {}) },
      );
      this.opts.identity.set({ keyPem, certChain: res.certChain, rootPem: res.rootCert });
      this.scheduleRenewal();
      if (!this.closed) this.prepareNextCsr();
      this.opts.log.info('workload certificate installed', {
        notAfter: optionalIso(this.opts.identity.notAfter()),
      });
    } finally {
      channel.close();
    }
  }

  private scheduleRenewal(): void {
    this.renewAttempt = 0;
    this.renewIn(renewDelayMs(this.opts.identity.current.certChain[0]!));
    // Node's timers run on the monotonic clock, which stands still while the machine sleeps: after a
    // night's suspend, a renewal set for half life is hours away while the certificate has expired.
    this.wallClock ??= setInterval(() => {
      if (!this.requesting && Date.now() >= this.renewAt + WALL_CLOCK_SLACK_MS) this.renewIn(0);
    }, WALL_CLOCK_CHECK_MS).unref();
  }

  private renewIn(delayMs: number): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewAt = Date.now() + delayMs;
    this.renewTimer = setTimeout(() => void this.renew(), Math.min(delayMs, 2 ** 31 - 1));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    try {
      const how = await this.renewOnce();
      this.opts.log.info(
        how === 'renewed' ? 'workload certificate rotated' : 'workload certificate re-issued',
      );
      // Refused while the certificate was not accepted: connect now rather than at the next backoff.
      if (this.started && !this.stream && !this.closed) {
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.attempt = 0;
        this.start();
      }
    } catch (e) {
      if (this.closed) return;
      const delay = backoff(this.renewAttempt++);
      // Seen on every attempt while the control plane is away; once a minute when nothing can change it.
      if (!isUnrenewable(e) || this.unrenewableNotice(errorMessage(e)))
        this.opts.log.warn('certificate renewal failed; keeping the current one', {
          error: errorMessage(e),
          ...(isWeftError(e) ? { code: e.code } : {}),
          retryInMs: delay,
        });
      this.renewIn(delay);
    }
  }

  private readonly unrenewableNotice = oncePer(60_000);

  /** Renews with the current certificate while the control plane accepts it, else with a new token. */
  private async renewOnce(): Promise<'renewed' | 're-bootstrapped'> {
    const notAfter = this.opts.identity.notAfter()?.getTime() ?? 0;
    if (notAfter > Date.now()) {
      try {
        await this.requestCertificate();
        return 'renewed';
      } catch (e) {
        // Say its root left the trust bundle while the proxy was stopped.
        if ((e as Partial<GrpcError>).code !== GrpcStatus.UNAUTHENTICATED) throw e;
        await this.rebootstrap(`the control plane refused it: ${(e as Error).message}`);
        return 're-bootstrapped';
      }
    }
    await this.rebootstrap(`it expired at ${isoTime(notAfter)}`);
    return 're-bootstrapped';
  }

  private async rebootstrap(why: string): Promise<void> {
    const source = this.opts.reissueToken;
    if (!source)
      throw new WeftError(
        ErrorCodes.PROXY_CERT_UNRENEWABLE,
        `the workload certificate cannot be renewed: ${why}`,
        'restart the proxy with a new bootstrap token (WEFT_BOOTSTRAP_TOKEN or --token-file)',
      );
    if (this.unrenewableNotice(why))
      this.opts.log.warn('the workload certificate is no longer accepted; asking for a new bootstrap token', {
        why,
      });
    await this.requestCertificate(await source());
  }

  start(): void {
    if (this.closed) return;
    this.started = true;
    this.channel?.close();
    this.channel = new GrpcChannel(this.opts.address, this.channelTls(true));
    const stream = this.channel.call<ProxyMessage, ControlMessage>(
      DISCOVERY_SERVICE.stream.path,
      SERVER_NAME,
    );
    this.stream = stream;
    stream.write({ type: 'hello', ...this.opts.hello, ...(this.version ? { version: this.version } : {}) });
    if (this.ready !== undefined) stream.write({ type: 'health', ready: this.ready });
    stream.on('message', (msg: ControlMessage) => {
      if (!this.connected) this.opts.log.info('connected to control plane');
      this.connected = true;
      this.attempt = 0;
      if (msg.type === 'snapshot') void this.apply(stream, msg.snapshot);
      else if (msg.type === 'trust-bundle') this.applyBundle(stream, msg);
    });
    const lost = (why: string) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.connected = false;
      if (this.heartbeat) clearInterval(this.heartbeat);
      if (this.closed) return;
      const delay = backoff(this.attempt++);
      this.opts.log.warn('control plane stream lost; serving last good config, reconnecting', {
        why,
        inMs: delay,
      });
      this.reconnectTimer = setTimeout(() => this.start(), delay);
    };
    stream.on('error', (e: GrpcError) => {
      // Our certificate is not accepted (it expired): renew now, which re-bootstraps and reconnects.
      if (e.code === GrpcStatus.UNAUTHENTICATED && !this.requesting && this.renewAt > Date.now())
        this.renewIn(0);
      lost(e.message);
    });
    stream.on('end', () => lost('stream ended'));
    // Heartbeats carry readiness, so a control plane that lost track of us (restart, sweep) learns it again.
    this.heartbeat = setInterval(
      () =>
        this.send(this.ready === undefined ? { type: 'heartbeat' } : { type: 'health', ready: this.ready }),
      HEARTBEAT_INTERVAL_MS,
    );
  }

  private async apply(stream: Stream, s: ProxySnapshot): Promise<void> {
    try {
      await this.opts.onSnapshot(s);
      this.version = s.version;
      this.acks++;
      if (this.stream === stream) stream.write({ type: 'ack', version: s.version });
    } catch (e) {
      const reason = (e as Error).message;
      this.nacks++;
      this.opts.log.warn('rejected config; keeping the previous one', { version: s.version, reason });
      if (this.stream === stream) stream.write({ type: 'nack', version: s.version, reason });
    }
  }

  /** A new trust bundle (root rotation): trusted at once by new handshakes on both sides (open connections keep
   * theirs), and when the signing root changed, a new certificate from it within the window given. */
  private applyBundle(stream: Stream, msg: TrustBundleMessage): void {
    const { identity, log } = this.opts;
    const have = identity.trustBundle.map((p) => p.trim()).join('\n');
    if (have !== msg.trustBundle.map((p) => p.trim()).join('\n')) {
      identity.setTrustBundle(msg.trustBundle);
      log.info('trust bundle updated', { roots: msg.trustBundle.length, version: msg.version });
    }
    if (this.stream === stream) stream.write({ type: 'trust-bundle-ack', version: msg.version });
    if (msg.reissueWithinMs === undefined || this.closed) return;
    const delay = Math.round(Math.random() * Math.max(0, msg.reissueWithinMs));
    log.info('the signing root changed; renewing the workload certificate', { inMs: delay });
    this.renewAttempt = 0;
    this.renewIn(delay);
  }

  /** For metrics: stream state, the version applied last, and how many snapshots were ACKed/NACKed. */
  stats(): { connected: boolean; version: string | undefined; acks: number; nacks: number } {
    return { connected: this.connected, version: this.version, acks: this.acks, nacks: this.nacks };
  }

  /** Listener addresses are only known once they are bound, after the certificate arrived. */
  updateHello(patch: Partial<Omit<ProxyHello, 'type'>>): void {
    Object.assign(this.opts.hello, patch);
  }

  reportHealth(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.send({ type: 'health', ready });
  }

  private send(msg: ProxyMessage): void {
    if (this.stream) this.stream.write(msg);
  }

  close(): void {
    this.closed = true;
    for (const t of [this.heartbeat, this.reconnectTimer, this.renewTimer, this.nextCsrTimer, this.wallClock])
      if (t) clearTimeout(t);
    this.stream?.cancel();
    this.channel?.close();
  }
}

/**
 * The longest wait from a certificate's installation to making the next key and CSR: past the seconds in
 * which a proxy that just became ready warms up, and short enough that the child (a Node process, ~60 MB
 * resident for ~0.3 s of CPU) has come and gone long before anyone samples an idle proxy. At 10 s the
 * bench's idle sample, taken 10 s after start, counted the child with its proxy (119 MB instead of 54).
 */
export const NEXT_CSR_DELAY_MS = 2_000;

/** How often the wall clock is checked for a renewal the monotonic timer has not run yet (sleep), and how
 * late it must be: the timer itself fires on time whenever the machine was awake. */
const WALL_CLOCK_CHECK_MS = 15_000;
const WALL_CLOCK_SLACK_MS = 5_000;

const isUnrenewable = (e: unknown) => (e as Partial<WeftError>).code === ErrorCodes.PROXY_CERT_UNRENEWABLE;

/** A renewal due sooner than this has its next CSR made at once, at normal priority. */
export const URGENT_RENEWAL_MS = 10_000;

/** The next renewal's key and CSR: being made (`making`), then made. */
interface NextCsr {
  urgent: boolean;
  making?: Promise<{ keyPem: string; csrPem: string } | undefined>;
  made?: { keyPem: string; csrPem: string };
}

/** 0.5 s doubling to 10 s, with ±20 % jitter so a fleet does not reconnect in lockstep. */
export function backoff(attempt: number): number {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
