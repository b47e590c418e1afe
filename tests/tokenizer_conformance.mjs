// SPDX-License-Identifier: LGPL-2.1-or-later
// Tokenizer conformance driver, run by tokenizer_conformance.sh:
//   node tokenizer_conformance.mjs TOKENIZER_ENCODE PACKAGE_DIR
// Generates test strings deterministically, encodes them with our C tokenizer
// (the tokenizer-encode tool, which loads PACKAGE_DIR/models/tokenizer.json
// through GGUF) and with the package's JavaScript tokenizer (a port of
// transformers.js), and requires identical ids for every string. It also
// requires our decode(encode(text)) to give back NFC(text).
//
// Invalid UTF-8: both sides see the same bytes. Ours replaces each maximal
// invalid subpart with U+FFFD (tokenizer.h); a JavaScript string cannot hold
// invalid UTF-8, so this side decodes the bytes with TextDecoder, which applies
// the same rule (WHATWG Encoding Standard). Equal ids then show that both the
// replacement and the tokenization agree.
//
// Left out of the generated text, because the JavaScript port knowingly differs
// from Hugging Face tokenizers there (and we follow Hugging Face):
//  - U+0085 and U+FEFF: JavaScript's \s lacks U+0085 and adds U+FEFF; the
//    Oniguruma \s of Hugging Face is Unicode White_Space (tests/tokenizer.c
//    checks ours on both);
//  - U+017F (long s): Hugging Face's case-insensitive (?i:'s) matches "'ſ", the
//    port's rewrite to ASCII classes does not.
// Characters assigned after Unicode 14 are left out too: the two regex engines'
// \p{L} and \p{N} tables (PCRE2 in GLib, ICU in node) need not know them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [encodeExe, pkgDir] = process.argv.slice(2);
if (!encodeExe || !pkgDir) {
  console.error('usage: node tokenizer_conformance.mjs TOKENIZER_ENCODE PACKAGE_DIR');
  process.exit(2);
}
const { fromPreTrained } = await import(pathToFileURL(path.join(pkgDir, 'dist', 'main.mjs')).href);
const tokenizer = fromPreTrained();

// ---- Deterministic generator (xorshift32) ----
let state = 0x6d6f7221;
function rand() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));   // lo..hi inclusive
const pick = (a) => a[int(0, a.length - 1)];
const repeat = (n, f) => Array.from({ length: n }, f).join('');

// Code point ranges, all assigned by Unicode 14 (or unassigned in both: emoji blocks).
const RANGES = [
  [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17e], [0x180, 0x24f], [0x300, 0x36f], [0x391, 0x3c9],
  [0x400, 0x45f], [0x5d0, 0x5ea], [0x621, 0x64a], [0x660, 0x669], [0x905, 0x939], [0x93e, 0x94c],
  [0x966, 0x96f], [0xe01, 0xe3a], [0xe50, 0xe59], [0x1100, 0x1112], [0x1161, 0x1175], [0x11a8, 0x11c2],
  [0x2010, 0x2027], [0x2030, 0x205e], [0x2070, 0x2079], [0x2160, 0x2188], [0x2200, 0x22ff],
  [0x2460, 0x249b], [0x2500, 0x257f], [0x3001, 0x303f], [0x3041, 0x3096], [0x30a1, 0x30fa],
  [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xf900, 0xfa2d], [0xff01, 0xff5e],
  [0xfffc, 0xfffd], [0x1d400, 0x1d7ff], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f900, 0x1f9ff],
];
const CONTROLS = [0, 1, 7, 8, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f, 0x80, 0x9f];  // not U+0085
const SPACES = [' ', '  ', '   ', '    ', '\t', '\n', '\n\n', '\n\n\n', '\r\n', ' \n', '\n ', ' \n \n', '\u00a0',
  '\u1680', '\u2003', '\u2009', '\u202f', '\u205f', '\u3000', '\u2028', '\u2029', '\x0b', '\x0c', '\t\t'];

function randomCodePoint() {
  const r = pick(RANGES);
  return String.fromCodePoint(int(r[0], r[1]));
}

function randomCase(s) {
  return [...s].map((c) => (rand() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join('');
}

const WORDS = ['the', 'The', 'THE', 'hello', 'world', 'Qwen', 'token', 'tokenizer', 'GStreamer', 'Vulkan',
  'naïve', 'café', 'résumé', 'straße', 'Ελλάδα', 'Москва', '日本語', '中文', '한국어', 'مرحبا', 'नमस्ते',
  'ภาษาไทย', 'answer', 'reasoning', 'speech', 'x', 'I', 'a', 'OK', 'iPhone', 'eBay', 'McDonald'];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
const CONTRACTED = ["don't", "DON'T", "I'm", "We'LL", "it's", "they'VE", "'tis", "rock'n'roll", "o'clock",
  "can't", "Y'all", "she'D", "you'Re", "''", "'", "'''s"];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '❤️', '🤖', '✨', '🎉', '1️⃣', '🙂🙃', '🧑🏿‍🚀', '☕'];
const CODE = ['int main(void) {', 'return 0;', '    ', 'def f(x):\n    return x**2', 'std::vector<int>',
  'if (a && b || !c)', '#include <glib.h>', 'x->y', 'a != b', '// comment', '/* c */', 'fn main() -> i32',
  'console.log(`${x}`)', 'SELECT * FROM t;', '\t}\n}\n', '{"key": [1, 2.5e-3, null]}', 'https://example.org/a?b=1&c=2',
  'foo_bar_baz', 'CamelCaseName', 'snake_case_123', '0x1F', '1e10', '-42', '3.14159', '1,000,000', '2025-08-21'];
const SPECIAL = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<|AUDIO|>', '<|im_sta',
  '<|vision_start|>', '<tool_call>', '<|im_start|>user\n', '<|im_end|>\n<|im_start|>assistant\n'];
const PUNCT = '!?.,;:-_()[]{}<>@#$%^&*+=/\\|~`"\'。，、！？：；「」『』（）【】…—·';

const ATOMS = [
  () => pick(WORDS),
  () => pick(WORDS),
  () => randomCase(pick(CONTRACTIONS)),
  () => pick(CONTRACTED),
  () => pick(WORDS) + randomCase(pick(CONTRACTIONS)),
  () => repeat(int(1, 12), () => String(int(0, 9))),
  () => pick(SPACES),
  () => pick(SPACES),
  () => repeat(int(1, 5), () => pick([...PUNCT])),
  () => pick(EMOJI),
  () => pick(CODE),
  () => pick(SPECIAL),
  () => repeat(int(1, 8), () => String.fromCodePoint(int(0x4e00, 0x9fa5))),
  () => repeat(int(1, 6), () => String.fromCodePoint(int(0x3041, 0x30fa))),
  () => repeat(int(1, 4), () => String.fromCodePoint(int(0xac00, 0xd7a3))),
  // Hangul jamo and decomposed Latin: NFC composes them.
  () => String.fromCodePoint(int(0x1100, 0x1112), int(0x1161, 0x1175)) + (rand() < 0.5 ? String.fromCodePoint(int(0x11a8, 0x11c2)) : ''),
  () => pick(['e\u0301', 'A\u030a', 'n\u0303', 'o\u0308\u0304', 'c\u0327', 'u\u031b\u0323', 'i\u0307\u0301']),
  () => String.fromCodePoint(int(0xf900, 0xfa2d)),
  () => repeat(int(1, 6), randomCodePoint),
  () => String.fromCodePoint(pick(CONTROLS)),
  () => pick(WORDS).toUpperCase(),
];

function composed() {
  let s = '';
  const n = int(1, 12);
  for (let i = 0; i < n; i++) {
    s += pick(ATOMS)();
    if (rand() < 0.35) s += ' ';
  }
  return s;
}

const FIXED = [
  '', ' ', '  ', '\n', '\n\n', '\t', 'a', 'Hello, world!', 'Hello world', ' Hello world', 'Hello  world', 'hello   ',
  '   hello', 'The quick brown fox jumps over the lazy dog.', "I'm sure you've seen it; they'll know what we'd do.",
  "DON'T SHOUT, IT'S LOUD. HE'S HERE. WE'VE WON. I'LL GO. YOU'D SEE. THEY'RE OK.", "'S 'T 'RE 'VE 'M 'LL 'D",
  '你好，世界！', '我是通义千问，由阿里云开发的大语言模型。', 'こんにちは、世界。カタカナ', '안녕하세요 세계',
  'Привет, мир!', 'مرحبا بالعالم', 'नमस्ते दुनिया', 'สวัสดีชาวโลก', 'Γειά σου Κόσμε', 'שלום עולם',
  '1234567890', '3.14159265358979', '1,000,000.00', '2025-08-21T12:34:56Z', '٠١٢٣٤٥٦٧٨٩', '१२३', '½ ¾ ² ³ ⅷ Ⅻ ①',
  '😀😃😄😁', '👨‍👩‍👧‍👦 family', '🇯🇵🇺🇸', 'emoji🤖in🤖text', '❤️‍🔥',
  'int main(void)\n{\n    printf("hi\\n");\n    return 0;\n}\n', 'def f(x):\n\tif x:\n\t\treturn 1\n',
  '    indented\n        more\n', 'a\r\nb\r\n\r\nc', 'trailing spaces   \n', '\n\n\n\n\n', '                    ',
  '<|im_start|>system\nYou are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory and visual inputs, as well as generating text and speech.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
  '<think>\nLet me think.\n</think>\n\nThe answer is 42.', '<|endoftext|><|endoftext|>', '<|im_start|><|im_end|>',
  '<|im_sta', '<|im_start', '|im_start|>', '<<|im_end|>>', '<|AUDIO|><|audio_bos|>',
  'e\u0301te\u0301', 'A\u030angstro\u0308m', '\u1100\u1161\u11a8', '\uf900\uf901', 'ﬁ ﬂ ㎏ ①', 'Ａ１！',
  '\u0000', 'a\u0000b', '\u001b[31mred\u001b[0m', '\u00a0\u00a0x', 'a\u3000\u3000b', 'x\u2028y\u2029z',
  '\u200b\u200c\u200d', '\ufffd', '\uffff\ufffe', '\ue000private', '𝐀𝐁𝐂 𝟏𝟐𝟑', "it's", "IT'S", "it'S", "'s'S",
  "''s", "x'sy", 'don’t', '...', '!!!???', '—–-', '«»„“”', '¡Hola! ¿Qué tal?', 'Straße', 'İstanbul', 'ǅ ǈ ǋ',
];

// Invalid UTF-8: valid text with broken sequences put in.
const BAD = [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff], [0xfe], [0xe4, 0xbd],
  [0xf0, 0x9f, 0x98], [0x80], [0xbf, 0xbf], [0xc3], [0xe0, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc2, 0x41], [0xe4, 0x41, 0xbd]];

function corrupt(bytes) {
  let b = Array.from(bytes);
  const n = int(1, 3);
  for (let i = 0; i < n; i++) {
    const at = int(0, b.length);
    const r = rand();
    if (r < 0.4) b.splice(at, 0, ...pick(BAD));
    else if (r < 0.7) b.splice(at, 0, int(0x80, 0xff));
    else if (b.length > 0) b = b.slice(0, int(0, b.length - 1)).concat(b.slice(at)); // drop bytes: may cut characters
  }
  return Buffer.from(b);
}

const cases = [];   // { kind, bytes }
const LEFT_OUT = /[\u0085\ufeff\u017f]/;   // see the top of this file
const add = (kind, bytes) => {
  if (!LEFT_OUT.test(new TextDecoder().decode(bytes))) cases.push({ kind, bytes: Buffer.from(bytes) });
};
for (const s of FIXED) add('fixed', Buffer.from(s, 'utf8'));
for (let i = 0; i < 1500; i++) add('composed', Buffer.from(composed(), 'utf8'));
for (let i = 0; i < 400; i++) add('code points', Buffer.from(repeat(int(1, 24), randomCodePoint), 'utf8'));
for (let i = 0; i < 400; i++) add('invalid UTF-8', corrupt(Buffer.from(composed(), 'utf8')));
for (let i = 0; i < 100; i++) add('random bytes', Buffer.from(Array.from({ length: int(1, 40) }, () => int(0, 255))));
for (let i = 0; i < 20; i++) add('long', Buffer.from(repeat(int(50, 200), composed), 'utf8'));

// ---- Ours ----
const input = cases.map((c) => c.bytes.toString('hex')).join('\n') + '\n';
const run = spawnSync(encodeExe, [path.join(pkgDir, 'models', 'tokenizer.json')],
  { input, maxBuffer: 1 << 30, encoding: 'utf8' });
process.stderr.write(run.stderr ?? '');
if (run.status !== 0) {
  console.error(`tokenizer-encode failed (status ${run.status}, signal ${run.signal})`);
  process.exit(1);
}
const lines = run.stdout.split('\n');
if (lines.length !== cases.length + 1) {
  console.error(`tokenizer-encode gave ${lines.length - 1} lines for ${cases.length} texts`);
  process.exit(1);
}

// ---- Theirs, and the comparison ----
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const show = (s) => JSON.stringify(s);
const byKind = new Map();
let differ = 0, roundTripFail = 0, failed = 0, printed = 0;
const t0 = performance.now();
cases.forEach((c, i) => {
  const text = decoder.decode(c.bytes);
  const theirs = tokenizer.encode(text, { add_special_tokens: false });
  const [idsField, hex] = lines[i].split('\t');
  const ours = idsField === '' ? [] : idsField.split(' ').map(Number);
  const same = ours.length === theirs.length && ours.every((id, j) => id === theirs[j]);
  const want = Buffer.from(text.normalize('NFC'), 'utf8').toString('hex');
  const k = byKind.get(c.kind) ?? { n: 0, same: 0 };
  k.n++;
  if (same) k.same++;
  byKind.set(c.kind, k);
  if (!same) differ++;
  if (hex !== want) roundTripFail++;
  if (!same || hex !== want) failed++;
  if ((!same || hex !== want) && printed++ < 15) {
    console.log(`MISMATCH #${i} (${c.kind}) bytes ${c.bytes.toString('hex')} text ${show(text)}`);
    if (!same) {
      console.log(`  ours   ${JSON.stringify(ours)} ${show(ours.map((id) => tokenizer.model.vocab[id]))}`);
      console.log(`  theirs ${JSON.stringify(theirs)} ${show(theirs.map((id) => tokenizer.model.vocab[id]))}`);
    }
    if (hex !== want) console.log(`  decode(encode) ${hex}\n  NFC(text)      ${want}`);
  }
});
const jsMs = performance.now() - t0;

for (const [kind, k] of byKind) console.log(`${kind.padEnd(14)} ${String(k.same).padStart(5)} / ${k.n} identical`);
console.log(`JavaScript tokenizer: ${cases.length} texts in ${jsMs.toFixed(0)} ms`);
console.log(`tokenizer conformance: ${cases.length} texts, ${cases.length - differ} with identical ids, ` +
  `${differ} differ; ${roundTripFail} decode(encode(text)) != NFC(text)`);
console.log(`${cases.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
