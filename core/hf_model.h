// Hugging Face model folders as base models: `config.json` with `model.safetensors`, or with
// sharded `model-0000k-of-0000n.safetensors` files listed in `model.safetensors.index.json`
// (docs/user-guide.md, "Use your own model"). Architectures LlamaForCausalLM,
// MistralForCausalLM and Qwen2ForCausalLM (model_type llama, mistral, qwen2). Every config field
// that changes the arithmetic is honoured or refused with one line naming it; the weights keep
// the dtype they are stored in and are memory-mapped, not copied.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model.h"

namespace lorascape::core {

// Whether `path` is a folder holding a config.json (what load_base_model treats as an HF model).
bool is_hf_model_dir(const std::string& path);

// config.json of the folder as a ModelConfig. FormatError naming the file and field for a
// missing or malformed field, ConfigError for a supported-by-transformers but not by lorascape
// setting (an architecture, `rope_scaling` yarn, quantised weights, …).
ModelConfig hf_model_config(const std::string& dir);
// The same from a parsed config.json (`origin` names it in errors).
ModelConfig hf_model_config(const nlohmann::json& config, const std::string& origin);

// The safetensors files of the folder, in order: model.safetensors, or the shards the index
// lists (each checked to exist).
std::vector<std::string> hf_weight_files(const std::string& dir);

// The model of the folder, its weights mapped from the files in their stored dtype (float32,
// bfloat16 or float16; a tensor stored in another dtype than the embedding is converted to the
// embedding's). Every tensor's presence and shape is checked against config.json. The folder's
// tokenizer.json, where there is one, becomes the model's codec (core/text_codec.h).
Transformer load_hf_model(const std::string& dir);

// Writes lorascape's own (byte-tokenizer) model as a Hugging Face model folder that
// transformers (LlamaForCausalLM) and load_hf_model read: config.json, model.safetensors
// (float32, lorascape's tensor names are transformers'), and a tokenizer.json describing the
// byte tokenizer as a byte-level BPE without merges (token id = byte value; BOS 256, EOS 257,
// PAD 258, SEP 259 as special tokens). The folder is created; files in it are replaced.
void export_hf_model(TransformerImpl& model, const std::string& dir);

// A digest of the folder that identifies the model without reading its weights: config.json and
// each weight file's size and safetensors header (names, dtypes, shapes and offsets).
std::string hf_model_digest(const std::string& dir);

}  // namespace lorascape::core
