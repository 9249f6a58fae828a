// Synthetic instrument logs in the vendors' formats, large enough to measure steady-state
// ingest. Entries are joined into multi-megabyte strings and written in one call each, so
// generating stays far faster than the agent it feeds.
import { open } from 'node:fs/promises';
import iconv from 'iconv-lite';

export interface GeneratedLog {
  file: string;
  bytes: number;
  lines: number;
  entries: number;
  /** Items the shipped profile makes of the file, where the bench knows its rules. */
  expectedItems: number | null;
}

interface GeneratedEntry {
  text: string;
  lines: number;
  items: number;
}

const CHUNK_CHARS = 8 * 1024 * 1024;

/** Appends entries until the file holds at least `targetBytes`. */
async function writeLog(
  file: string,
  targetBytes: number,
  encoding: 'cp1252' | 'utf8',
  next: () => GeneratedEntry,
  knowsItems: boolean,
): Promise<GeneratedLog> {
  const handle = await open(file, 'w');
  let bytes = 0;
  let lines = 0;
  let entries = 0;
  let items = 0;
  try {
    while (bytes < targetBytes) {
      const parts: string[] = [];
      // Non-ASCII text is rare, so characters stand in for bytes when sizing a chunk.
      let chars = 0;
      while (chars < CHUNK_CHARS && bytes + chars < targetBytes) {
        const entry = next();
        parts.push(entry.text);
        chars += entry.text.length;
        lines += entry.lines;
        entries++;
        items += entry.items;
      }
      const chunk = iconv.encode(parts.join(''), encoding);
      await handle.write(chunk);
      bytes += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return { file, bytes, lines, entries, expectedItems: knowsItems ? items : null };
}

export function generateEmServerLog(file: string, targetBytes: number): Promise<GeneratedLog> {
  return writeLog(file, targetBytes, 'cp1252', emServerEntries(), true);
}

export function generateZenLog(file: string, targetBytes: number): Promise<GeneratedLog> {
  return writeLog(file, targetBytes, 'utf8', zenEntries(), false);
}

/** mulberry32: the same files on every run, so runs compare. */
export function random(seed: number) {
  let state = seed | 0;
  const float = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float,
    int: (min: number, max: number) => min + Math.floor((max - min + 1) * float()),
    pick: <T>(items: readonly T[]): T => items[Math.floor(items.length * float())]!,
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2025-05-11 08:00:04.236`, local time as SmartSEM writes it. */
export function emStamp(epochMs: number): string {
  const d = new Date(epochMs);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

export function emLine(epochMs: number, level: string, module: string, message: string): string {
  return `${emStamp(epochMs)} | ${level.padEnd(5)} | ${module.padEnd(8)} | ${message}\r\n`;
}

// A cp1252 name too, so the agent's decoder sees more than ASCII.
const USERS = ['schmidt_k', 'lab-admin2', 'jdoe', 'm.tanaka', 'müller_a'];

/** The sample's cycle of SmartSEM lines, with its warnings, errors and saved images. */
function emServerEntries(): () => GeneratedEntry {
  const r = random(4711);
  let now = new Date(2025, 4, 11, 8, 0, 4, 236).getTime();
  let step = 0;
  let user = USERS[0]!;
  let filamentAge = 1225.14;
  let operatingHours = 17035.3;
  const stage = [9623, 34543, 16672];
  // The outbox stores a state only when it changes: count what it will keep.
  const lastStates = new Map<string, string>();
  const changed = (name: string, value: string) => {
    if (lastStates.get(name) === value) return 0;
    lastStates.set(name, value);
    return 1;
  };
  const sci = (min: number, max: number, exponent: string) =>
    `${(min + (max - min) * r.float()).toFixed(2)}e-${exponent}`;

  return () => {
    now += r.int(200, 40_000);
    const line = (level: string, module: string, message: string) =>
      emLine(now, level, module, message);
    const one = (text: string, items: number) => ({ text, lines: 1, items });
    const phase = step++ % 8;
    switch (phase) {
      case 0:
        if (step === 1) {
          return one(line('INFO', 'EMServer', 'EMSERVER_HAS_LOADED SmartSEM V06.07.00.07'), 1);
        }
        user = r.pick(USERS);
        return one(line('INFO', 'Session', `EMSERVER_USER_LOGGED_ON user=${user}`), 1);
      case 1: {
        const status = r.float() < 0.02 ? 'Pumping' : 'Ready';
        const message =
          `DP_VACSTATUS = ${status} ; Gun Vacuum = ${sci(1, 5, '009')} mbar ; ` +
          `System Vacuum = ${sci(2, 5, '006')} mbar ; Chamber Vacuum = ${sci(5, 9, '004')} mbar`;
        return one(line('INFO', 'Vacuum', message), 3 + changed('vacuum.status', status));
      }
      case 2: {
        const state = r.float() < 0.02 ? 'Beam Off' : 'Beam On';
        filamentAge += r.int(1, 300) / 100;
        const eht = r.pick(['1.00', '5.00', '15.00', '20.00']);
        const message =
          `DP_RUNUPSTATE = ${state} ; EHT = ${eht} kV ; Fil I = ${(2.2 + r.float() * 0.3).toFixed(3)} A ; ` +
          `Filament Age = ${filamentAge.toFixed(2)} Hours`;
        return one(line('INFO', 'Gun', message), 3 + changed('gun.runup_state', state));
      }
      case 3:
        return one(
          line('INFO', 'Column', `Aperture Size = ${r.pick(['7.5', '20', '60'])} M-5m`),
          1,
        );
      case 4: {
        for (let i = 0; i < stage.length; i++) stage[i]! += r.int(0, 400);
        const [x, y, z] = stage;
        const message = `Stage X Cycles = ${x} ; Stage Y Cycles = ${y} ; Stage Z Cycles = ${z}`;
        return one(line('INFO', 'Stage', message), 3);
      }
      case 5: {
        operatingHours += r.int(1, 40) / 10;
        const message =
          `Operating Hours = ${operatingHours.toFixed(1)} Hours ; ` +
          `Supply 24V = ${(24 + r.float() * 0.25).toFixed(2)} V`;
        return one(line('INFO', 'System', message), 2);
      }
      case 6: {
        const image = `C:\\Users\\${user}\\Documents\\Project ${r.int(1, 9)}\\sample_${r.int(1, 999)}.tif`;
        return one(line('INFO', 'Imaging', `Image saved to ${image}`), 0);
      }
      default: {
        const roll = r.float();
        if (roll < 0.35) return one(line('WARN', 'Vacuum', 'Gauge IGP1 read timeout, retrying'), 1);
        if (roll < 0.5) {
          const image = `C:\\Users\\${user}\\Desktop\\cells_${r.int(1, 99)}.tif`;
          return one(line('ERROR', 'Imaging', `Failed to save image ${image}: disk full`), 1);
        }
        if (roll < 0.7) {
          const message =
            'API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable';
          return {
            text:
              line('ERROR', 'Remoting', message) +
              '    at CEMServer::Notify(Int32 code)\r\n    at CRemoting::Dispatch()\r\n',
            lines: 3,
            items: 1,
          };
        }
        if (roll < 0.75) {
          return one(
            line('INFO', 'Firmware', 'Firmware Stage Controller = 4.6.3'),
            changed('firmware.stage_controller', '4.6.3'),
          );
        }
        const image = `C:\\Users\\${user}\\Documents\\Project ${r.int(1, 9)}\\sample_${r.int(1, 999)}.tif`;
        return one(line('INFO', 'Imaging', `Image saved to ${image}`), 0);
      }
    }
  };
}

/** log4net XmlLayout as ZEN writes it: one `<event>` a line, an exception breaks it over two. */
function zenEntries(): () => GeneratedEntry {
  const r = random(1234);
  let now = Date.UTC(2025, 5, 23, 7, 0, 4, 998);
  let step = 0;
  let user = USERS[0]!;
  let lampHours = 1590.8;
  let turretCycles = 8164;
  let focusCycles = 91965;

  return () => {
    now += r.int(200, 40_000);
    // Written with the lab's +01:00 offset and log4net's seven fractional digits.
    const stamp = `${new Date(now + 3_600_000).toISOString().slice(0, 23)}${pad(r.int(0, 9999), 4)}+01:00`;
    const event = (logger: string, level: string, message: string, exception = '') => {
      const text =
        `<event logger="${logger}" timestamp="${stamp}" level="${level}" thread="${r.int(3, 37)}" ` +
        `domain="ZEN.exe" username="LAB\\${user}"><message>${message}</message>` +
        `<properties><data name="SoftwareVersion" value="3.12.571.03810" /></properties>` +
        `${exception}</event>\r\n`;
      return { text, lines: exception ? 2 : 1, items: 0 };
    };
    if (step++ === 0) return event('Zeiss.Micro.Hardware.MTB', 'INFO', 'Firmware MTBFocus = 2.8.0');
    const roll = r.float();
    if (roll < 0.05) {
      return event(
        'Zeiss.Micro.Acquisition',
        'WARN',
        'Command not allowed while device in motion (0x0D)',
      );
    }
    if (roll < 0.08) {
      return event(
        'Zeiss.Micro.Focus',
        'ERROR',
        '<![CDATA[Move <Z> failed & retried <3x>]]>',
        '<exception>System.TimeoutException: Requested position was not reached\r\n' +
          '   at Zeiss.Micro.Focus.Move()</exception>',
      );
    }
    switch (step % 4) {
      case 0:
        if (r.float() < 0.4) user = r.pick(USERS);
        lampHours += r.int(1, 10) / 10;
        return event(
          'Zeiss.Micro.Hardware.Lamp',
          'INFO',
          `HXP lamp operating hours: ${lampHours.toFixed(1)} h`,
        );
      case 1:
        turretCycles += r.int(0, 60);
        return event(
          'Zeiss.Micro.Hardware.Nosepiece',
          'INFO',
          `Objective turret cycles: ${turretCycles}`,
        );
      case 2:
        focusCycles += r.int(0, 900);
        return event('Zeiss.Micro.Hardware.Focus', 'INFO', `Focus drive cycles: ${focusCycles}`);
      default:
        return event(
          'Zeiss.Micro.Acquisition',
          'INFO',
          `Experiment saved: C:\\Users\\${user}\\Pictures\\Exp_${r.int(1, 400)}.czi`,
        );
    }
  };
}
