import { drift, exp3, localStamp, random } from './common.ts';
import type { Entry, LogFile, Random } from './common.ts';

const cp1252 = (name: string): LogFile => ({
  path: `em/SmartSEM/Log/${name}`,
  encoding: 'windows1252',
  bom: false,
});
const SERVER = cp1252('EM Server.log');
const GIS = cp1252('GIS.log');
const FIB = cp1252('FIB.log');

const USERS = ['schmidt_k', 'lab-admin2', 'jdoe', 'm.tanaka'];
const EHT_KV = [1, 3, 5, 10, 15, 20, 30];
const APERTURES_UM = ['7.5', '20', '30', '60'];
// Pressures walk in decades, so they drift in log10 space around these typical readings.
const VACUUM_LOG10 = { gun: -8.6, system: -5.45, chamber: -3.15 };

export interface EmState {
  kind: 'em';
  rng: number;
  step: number;
  cycle: number;
  user: string;
  operatingHours: number;
  filamentAge: number;
  filamentCurrent: number;
  eht: number;
  stageCycles: [number, number, number];
  vacuumLog10: { gun: number; system: number; chamber: number };
  gisTemperature: number;
  fibCurrent: number;
}

type Level = 'INFO' | 'WARN' | 'ERROR';

function emLine(now: number, level: Level, category: string, message: string): string {
  return `${localStamp(now)} | ${level.padEnd(5)} | ${category.padEnd(8)} | ${message}`;
}

export function emInitial(seed: number): EmState {
  const s: EmState = {
    kind: 'em',
    rng: seed,
    step: 0,
    cycle: 0,
    user: USERS[0]!,
    operatingHours: 0,
    filamentAge: 0,
    filamentCurrent: 2.35,
    eht: 5,
    stageCycles: [0, 0, 0],
    vacuumLog10: { ...VACUUM_LOG10 },
    gisTemperature: 28,
    fibCurrent: 2,
  };
  const r = random(s);
  s.user = r.pick(USERS);
  s.operatingHours = r.between(12_000, 18_000);
  s.filamentAge = r.between(200, 1500);
  s.stageCycles = [r.int(5000, 20_000), r.int(20_000, 40_000), r.int(10_000, 20_000)];
  return s;
}

export function emStep(s: EmState, r: Random, now: number): Entry {
  const entry = (
    file: LogFile,
    level: Level,
    category: string,
    message: string,
    ...trace: string[]
  ) => ({
    file,
    lines: [emLine(now, level, category, message), ...trace],
  });
  s.step += 1;
  if (s.step === 1)
    return entry(SERVER, 'INFO', 'EMServer', 'EMSERVER_HAS_LOADED SmartSEM V06.07.00.07');
  if (s.step === 2) return entry(SERVER, 'INFO', 'Firmware', 'Firmware Stage Controller = 4.6.3');

  const roll = r.float();
  if (roll < 0.04) return entry(SERVER, 'WARN', 'Vacuum', 'Gauge IGP1 read timeout, retrying');
  if (roll < 0.06) {
    const path = `C:\\Users\\${s.user}\\Desktop\\cells_${r.int(1, 99)}.tif`;
    return entry(SERVER, 'ERROR', 'Imaging', `Failed to save image ${path}: disk full`);
  }
  if (roll < 0.08) {
    return entry(
      SERVER,
      'ERROR',
      'Remoting',
      'API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable',
      '    at CEMServer::Notify(Int32 code)',
      '    at CRemoting::Dispatch()',
    );
  }
  if (roll < 0.16) {
    // Starts near ambient and heats towards the precursor's working temperature.
    s.gisTemperature = drift(r, s.gisTemperature, 65, 2);
    const message = `GIS Reservoir Temperature = ${s.gisTemperature.toFixed(2)} °C`;
    return entry(GIS, 'INFO', 'GIS', message);
  }
  if (roll < 0.24) {
    s.fibCurrent = Math.max(0.5, drift(r, s.fibCurrent, 2, 0.3));
    return entry(FIB, 'INFO', 'FIB', `FIB Emission Current = ${s.fibCurrent.toFixed(2)} uA`);
  }

  const phase = s.cycle % 7;
  s.cycle += 1;
  switch (phase) {
    case 0:
      if (r.float() < 0.5) s.user = r.pick(USERS);
      return entry(SERVER, 'INFO', 'Session', `EMSERVER_USER_LOGGED_ON user=${s.user}`);
    case 1: {
      const v = s.vacuumLog10;
      v.gun = drift(r, v.gun, VACUUM_LOG10.gun, 0.15);
      v.system = drift(r, v.system, VACUUM_LOG10.system, 0.1);
      v.chamber = drift(r, v.chamber, VACUUM_LOG10.chamber, 0.08);
      const mbar = (log10: number) => `${exp3(10 ** log10)} mbar`;
      const message =
        `DP_VACSTATUS = Ready ; Gun Vacuum = ${mbar(v.gun)} ; ` +
        `System Vacuum = ${mbar(v.system)} ; Chamber Vacuum = ${mbar(v.chamber)}`;
      return entry(SERVER, 'INFO', 'Vacuum', message);
    }
    case 2: {
      if (r.float() < 0.3) s.eht = r.pick(EHT_KV);
      s.filamentCurrent = drift(r, s.filamentCurrent, 2.35, 0.05);
      s.filamentAge += r.between(0.05, 1.5);
      const message =
        `DP_RUNUPSTATE = Beam On ; EHT = ${s.eht.toFixed(2)} kV ; ` +
        `Fil I = ${s.filamentCurrent.toFixed(3)} A ; Filament Age = ${s.filamentAge.toFixed(2)} Hours`;
      return entry(SERVER, 'INFO', 'Gun', message);
    }
    case 3:
      return entry(SERVER, 'INFO', 'Column', `Aperture Size = ${r.pick(APERTURES_UM)} µm`);
    case 4: {
      s.stageCycles = s.stageCycles.map((n) => n + r.int(0, 300)) as EmState['stageCycles'];
      const [x, y, z] = s.stageCycles;
      const message = `Stage X Cycles = ${x} ; Stage Y Cycles = ${y} ; Stage Z Cycles = ${z}`;
      return entry(SERVER, 'INFO', 'Stage', message);
    }
    case 5: {
      s.operatingHours += r.between(0.1, 2);
      const supply = 24 + r.between(-0.05, 0.25);
      const message = `Operating Hours = ${s.operatingHours.toFixed(1)} Hours ; Supply 24V = ${supply.toFixed(2)} V`;
      return entry(SERVER, 'INFO', 'System', message);
    }
    default: {
      const path = `C:\\Users\\${s.user}\\Documents\\Project ${r.int(1, 9)}\\sample_${r.int(100, 999)}.tif`;
      return entry(SERVER, 'INFO', 'Imaging', `Image saved to ${path}`);
    }
  }
}
