import { drift, exp3, localStamp, random, usStamp } from './common.ts';
import type { Entry, LogFile, Random } from './common.ts';

const SOURCE_KV = [40, 60, 80, 100, 140];
const VACUUM_LOG10 = -6.4;

export interface XrmState {
  kind: 'xrm';
  rng: number;
  version: string;
  cycle: number;
  thetaMoves: number;
  kv: number;
  watts: number;
  vacuumLog10: number;
  filamentHours: number;
  linkUp: boolean;
  retries: number;
}

export function xrmInitial(seed: number, version: string): XrmState {
  const s: XrmState = {
    kind: 'xrm',
    rng: seed,
    version,
    cycle: 0,
    thetaMoves: 0,
    kv: 80,
    watts: 5,
    vacuumLog10: VACUUM_LOG10,
    filamentHours: 0,
    linkUp: true,
    retries: 0,
  };
  const r = random(s);
  s.thetaMoves = r.int(10_000, 60_000);
  s.filamentHours = r.between(50, 3000);
  return s;
}

export function xrmStep(s: XrmState, r: Random, now: number): Entry {
  const base = `xrm/Xradia Versa/${s.version}`;
  const file = (path: string): LogFile => ({
    path: `${base}/${path}`,
    encoding: 'utf8',
    bom: false,
  });
  const app = (level: 'INFO' | 'ERROR', component: string, message: string): Entry => ({
    file: file('Log Files/XradiaApp_1.log'),
    lines: [`${localStamp(now)} [${level.padEnd(5)}] [${component}] ${message}`],
  });
  const source = (name: string, fields: string): Entry => ({
    file: file(`logs/${name}.log`),
    lines: [`${usStamp(now)}, ${name}, ${fields}`],
  });

  const roll = r.float();
  if (roll < 0.03) return app('ERROR', 'Detector', 'Camera connection lost');
  if (roll < 0.07) {
    // A dropped link retries until it comes back, so DOWN lines count up before an UP.
    if (s.linkUp || r.float() < 0.5) {
      s.linkUp = false;
      s.retries += 1;
    } else {
      s.linkUp = true;
      s.retries = 0;
    }
    return source('Comms', `Link=${s.linkUp ? 'UP' : 'DOWN'}, Retry=${s.retries}`);
  }

  const phase = s.cycle % 6;
  s.cycle += 1;
  switch (phase) {
    case 0:
      s.kv = r.pick(SOURCE_KV);
      s.watts = r.between(1, 10);
      return app(
        'INFO',
        'SourceController',
        `Source ON: ${s.kv.toFixed(1)} kV, ${s.watts.toFixed(2)} W`,
      );
    case 1:
      s.thetaMoves += r.int(1, 400);
      return app('INFO', 'Motion', `Axis SampleTheta move #${s.thetaMoves} complete`);
    case 2: {
      const kv = s.kv + r.between(-0.5, 0.5);
      const watts = s.watts + r.between(-0.1, 0.1);
      const microAmps = (watts / kv) * 1000;
      return source(
        'Tube',
        `kV=${kv.toFixed(1)}, uA=${microAmps.toFixed(1)}, W=${watts.toFixed(1)}`,
      );
    }
    case 3:
      s.vacuumLog10 = drift(r, s.vacuumLog10, VACUUM_LOG10, 0.1);
      return source('Vac', `Pressure=${exp3(10 ** s.vacuumLog10)} mbar`);
    case 4:
      s.filamentHours += r.between(0.05, 0.5);
      return source('FilStore', `FilamentHours=${s.filamentHours.toFixed(1)}`);
    default:
      return source('Warm', `kV=${r.between(20, 80).toFixed(1)}`);
  }
}
