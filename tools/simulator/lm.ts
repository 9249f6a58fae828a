import { drift, offsetStamp, random } from './common.ts';
import type { Entry, LogFile, Random } from './common.ts';

const ZEN: LogFile = { path: 'lm/Logging/ZEN.log.xml', encoding: 'utf8', bom: false };
const ZEN_CORE: LogFile = { path: 'lm/Logging/ZENCore.log.xml', encoding: 'utf16le', bom: true };
const REMOTE: LogFile = {
  path: 'lm/Remote Service/remote service.log.xml',
  encoding: 'utf8',
  bom: true,
};

const USERS = ['schmidt_k', 'lab-admin2', 'jdoe', 'm.tanaka'];
const ZEN_VERSION = '3.12.571.03810';

export interface LmState {
  kind: 'lm';
  rng: number;
  step: number;
  cycle: number;
  record: number;
  user: string;
  lampHours: number;
  turretCycles: number;
  focusCycles: number;
  standHours: number;
  reflectorCycles: number;
  incubation: number;
}

type Level = 'INFO' | 'WARN' | 'ERROR';

export function lmInitial(seed: number): LmState {
  const s: LmState = {
    kind: 'lm',
    rng: seed,
    step: 0,
    cycle: 0,
    record: 0,
    user: USERS[0]!,
    lampHours: 0,
    turretCycles: 0,
    focusCycles: 0,
    standHours: 0,
    reflectorCycles: 0,
    incubation: 37,
  };
  const r = random(s);
  s.user = r.pick(USERS);
  s.lampHours = r.between(100, 2000);
  s.turretCycles = r.int(1000, 10_000);
  s.focusCycles = r.int(10_000, 100_000);
  s.standHours = r.between(2000, 10_000);
  s.reflectorCycles = r.int(1000, 10_000);
  return s;
}

export function lmStep(s: LmState, r: Random, now: number): Entry {
  // log4net XmlLayout: one <event> a line; only an <exception> body breaks it over lines.
  const event = (file: LogFile, logger: string, level: Level, message: string, exception = '') => {
    const head =
      `<event logger="${logger}" timestamp="${offsetStamp(now, r.int(0, 9999))}" level="${level}" ` +
      `thread="${r.int(3, 37)}" domain="ZEN.exe" username="LAB\\${s.user}">` +
      `<message>${message}</message>` +
      `<properties><data name="SoftwareVersion" value="${ZEN_VERSION}" /></properties>`;
    return { file, lines: `${head}${exception}</event>`.split('\n') };
  };
  s.step += 1;
  if (s.step === 1)
    return event(ZEN, 'Zeiss.Micro.Hardware.MTB', 'INFO', 'Firmware MTBFocus = 2.8.0');

  const roll = r.float();
  if (roll < 0.05) {
    const message = 'Command not allowed while device in motion (0x0D)';
    return event(ZEN, 'Zeiss.Micro.Acquisition', 'WARN', message);
  }
  if (roll < 0.08) {
    return event(
      ZEN,
      'Zeiss.Micro.Focus',
      'ERROR',
      '<![CDATA[Move <Z> failed & retried <3x>]]>',
      '<exception>System.TimeoutException: Requested position was not reached\n' +
        '   at Zeiss.Micro.Focus.Move()</exception>',
    );
  }
  if (roll < 0.1) {
    return event(
      ZEN_CORE,
      'Zeiss.Micro.Core.Devices',
      'ERROR',
      "Device 'Axiocam 705' disconnected",
    );
  }
  if (roll < 0.22) {
    s.incubation = drift(r, s.incubation, 37, 0.15);
    const message = `Incubation temperature = ${s.incubation.toFixed(1)} °C`;
    return event(ZEN_CORE, 'Zeiss.Micro.Core.Incubation', 'INFO', message);
  }
  if (roll < 0.34) return remoteRecord(s, r, now);

  const phase = s.cycle % 4;
  s.cycle += 1;
  switch (phase) {
    case 0:
      if (r.float() < 0.4) s.user = r.pick(USERS);
      s.lampHours += r.between(0.05, 1);
      return event(
        ZEN,
        'Zeiss.Micro.Hardware.Lamp',
        'INFO',
        `HXP lamp operating hours: ${s.lampHours.toFixed(1)} h`,
      );
    case 1:
      s.turretCycles += r.int(0, 60);
      return event(
        ZEN,
        'Zeiss.Micro.Hardware.Nosepiece',
        'INFO',
        `Objective turret cycles: ${s.turretCycles}`,
      );
    case 2:
      s.focusCycles += r.int(0, 900);
      return event(
        ZEN,
        'Zeiss.Micro.Hardware.Focus',
        'INFO',
        `Focus drive cycles: ${s.focusCycles}`,
      );
    default: {
      const path = `C:\\Users\\${s.user}\\Pictures\\Exp_${r.int(1, 400)}.czi`;
      return event(ZEN, 'Zeiss.Micro.Acquisition', 'INFO', `Experiment saved: ${path}`);
    }
  }
}

function remoteRecord(s: LmState, r: Random, now: number): Entry {
  const phase = s.record % 3;
  s.record += 1;
  let attrs: string;
  if (phase === 0) {
    attrs = `name="lamp.hxp.operating_hours" value="${s.lampHours.toFixed(1)}" unit="h"`;
  } else if (phase === 1) {
    s.standHours += r.between(0.05, 1);
    attrs = `name="stand.operating_hours" value="${s.standHours.toFixed(1)}" unit="h"`;
  } else {
    s.reflectorCycles += r.int(0, 20);
    attrs = `name="reflector.turret.cycles" value="${s.reflectorCycles}"`;
  }
  return { file: REMOTE, lines: [`<record timestamp="${offsetStamp(now)}" ${attrs} />`] };
}
