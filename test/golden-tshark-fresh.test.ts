// The committed tshark goldens (fixtures/**/<name>.tshark.tsv, used by golden-tshark.test.ts)
// against a fresh tshark run: a tshark version that decodes PDM differently shows up here.
// Separate file because ~45 tshark starts take 15-45 s.

import assert from 'node:assert/strict';
import { TSHARK, testNeeding } from './support/prereq.js';
import { decodeFixtures, mapLimit, readTsharkGolden, runTsharkAsync, simFixtures } from './support/fixtures.js';

testNeeding('a fresh tshark run matches every committed golden', [TSHARK], async () => {
  const files = [...decodeFixtures(), ...simFixtures()];
  const fresh = await mapLimit(files, 3, runTsharkAsync);
  files.forEach((file, i) => {
    assert.deepEqual(fresh[i], readTsharkGolden(file),
      `${file}: tshark output differs from the committed golden (tshark version drift?); ` +
      'regenerate with bash scripts/fixtures/tshark_goldens.sh after checking why');
  });
});
