import { beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../kit/broker.js';
import type { Storage } from '../../broker/storage/db.js';
import { storageFor } from '../helpers/engine-storage.js';
import { finalisedBytes } from '../../broker/sessions/recording-totals.js';

describe.each(ENGINES)('the stored total of finalised recording bytes (%s)', (engine) => {
  const storage = storageFor(engine, 'totals');
  let s: Storage;
  beforeAll(() => {
    s = storage();
  });

  const row = (id: string, state: string, bytes: number) => ({ session_id: id, mode: 'required', state, next_seq: 0, chunks: 0, bytes, first_at: null, last_at: null, manifest_sha256: null, finalised: null, finalised_at: null, deleted_at: null, next_transcript_seq: 0 });
  const summed = async () => Number((await s.db.selectFrom('recordings').select((eb) => eb.fn.sum<number | string>('bytes').as('t')).where('state', '=', 'finalised').executeTakeFirst())?.t ?? 0);

  it('follows every change of state and bytes, whichever statement makes it, and is the sum it stands for', async () => {
    expect(await finalisedBytes(s.db)).toBe(0);
    await s.db.insertInto('recordings').values([row('a', 'recording', 0), row('b', 'finalised', 500)]).execute();
    expect(await finalisedBytes(s.db)).toBe(500);
    // Chunks advance a recording that is still recording: not counted.
    await s.db.updateTable('recordings').set({ bytes: 300 }).where('session_id', '=', 'a').execute();
    expect(await finalisedBytes(s.db)).toBe(500);
    await s.db.updateTable('recordings').set({ state: 'finalising' }).where('session_id', '=', 'a').execute();
    await s.db.updateTable('recordings').set({ state: 'finalised' }).where('session_id', '=', 'a').execute();
    expect(await finalisedBytes(s.db)).toBe(800);
    await s.db.updateTable('recordings').set({ state: 'deleted' }).where('session_id', '=', 'b').execute();
    expect(await finalisedBytes(s.db)).toBe(300);
    await s.db.updateTable('recordings').set({ bytes: 350 }).where('session_id', '=', 'a').execute();
    expect(await finalisedBytes(s.db)).toBe(350);
    await s.db.deleteFrom('recordings').where('session_id', '=', 'a').execute();
    expect(await finalisedBytes(s.db)).toBe(0);
    expect(await finalisedBytes(s.db)).toBe(await summed());
  });
});
