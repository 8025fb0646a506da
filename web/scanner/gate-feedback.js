// What staff at a gate hear and feel with each verdict, on top of the full-screen colour: a
// rising double beep and one short buzz for MASUK, a low long tone and a long double buzz for
// DITOLAK, two low pulses for SUDAH MASUK (a different sound: the person may be a friend of a
// ticket holder, or the holder back from outside). And the count of admissions at this gate.

/** The tones ({ hz, ms } in sequence) and vibration pattern (ms) of a verdict (pure). */
export function signalFor(result) {
  if (result === "admitted") return { tones: [{ hz: 880, ms: 110 }, { hz: 1320, ms: 160 }], vibrate: [120] };
  if (result === "already_admitted") return { tones: [{ hz: 330, ms: 220 }, { hz: 0, ms: 90 }, { hz: 330, ms: 220 }], vibrate: [250, 120, 250] };
  return { tones: [{ hz: 196, ms: 650 }], vibrate: [500, 150, 500] };
}

let audio = null;

/** Called from a tap (the camera button, a manual check): browsers start audio only after one. */
export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null; // no WebAudio: the colour and the vibration remain
  }
}

/** Plays the verdict's tones (one AudioContext for the whole shift) and vibrates where the
 * device can. */
export function signal(result) {
  const { tones, vibrate } = signalFor(result);
  navigator.vibrate?.(vibrate);
  unlockAudio();
  if (!audio) return;
  let at = audio.currentTime;
  for (const { hz, ms } of tones) {
    if (hz > 0) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.type = result === "admitted" ? "sine" : "square";
      o.frequency.value = hz;
      g.gain.value = 0.4;
      o.connect(g).connect(audio.destination);
      o.start(at);
      o.stop(at + ms / 1000);
    }
    at += ms / 1000;
  }
}

/** The admissions at `gate` of `eventId` this device has recorded (online and provisional),
 * from the scanner's "admitted" store; signing out clears it with the rest. */
export async function admittedAt(db, eventId, gate) {
  return (await db.all("admitted")).filter((a) => a.event_id === eventId && a.gate_id === gate).length;
}
