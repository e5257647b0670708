// Tests of the strict safetensors reader/writer (core/safetensors.h).
#include <gtest/gtest.h>
#include <torch/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "store/error.h"

namespace fs = std::filesystem;
using lorascape::FormatError;
using lorascape::core::decode_safetensors;
using lorascape::core::encode_safetensors;
using lorascape::core::NamedTensors;
using lorascape::core::read_safetensors;
using lorascape::core::SafetensorsData;
using lorascape::core::write_safetensors;

namespace {

// A safetensors file from a raw header string and data buffer (no padding added).
std::string frame(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// A file whose first 8 bytes claim `n` header bytes, followed by `rest`.
std::string with_length(uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + rest;
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  return n;
}

// Same dtype, shape and bytes (bit-identical, so NaN and -0.0 count too).
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.numel() == 0 ||
         std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

NamedTensors sample_tensors() {
  at::Tensor f32 = torch::randn({2, 3});
  f32[0][0] = std::numeric_limits<float>::quiet_NaN();
  f32[0][1] = -0.0f;
  f32[0][2] = std::numeric_limits<float>::infinity();
  return {
      {"layers.1.lora_B.weight", f32},
      {"layers.0.lora_A.weight", torch::randn({3, 2}).to(torch::kHalf)},
      {"bf16", torch::randn({4, 1, 2}).to(torch::kBFloat16)},
      {"f64", torch::randn({5}, torch::kDouble)},
      {"i64", torch::tensor({int64_t{1} << 62, int64_t{-3}, int64_t{0}}, torch::kLong)},
      {"i32", torch::arange(-4, 8, torch::kInt).reshape({3, 4})},
      {"i16", torch::arange(-3, 3, torch::kShort)},
      {"i8", torch::arange(-5, 2, torch::kChar)},
      {"u8", torch::arange(250, 255, torch::kByte)},  // 5 bytes: unaligned data after it
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 3})},
      {"after_empty", torch::ones({2}, torch::kDouble)},
  };
}

const std::map<std::string, std::string> kMeta = {{"format", "pt"}, {"note", "ünïcode \"q\"\n"}};

void expect_same(const NamedTensors& want, const SafetensorsData& got) {
  ASSERT_EQ(got.tensors.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got.tensors[i].first, want[i].first) << "position " << i;
    EXPECT_TRUE(same_bits(got.tensors[i].second, want[i].second)) << want[i].first;
    EXPECT_EQ(got.tensors[i].second.device(), at::Device(at::kCPU));
  }
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lorascape_st_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

}  // namespace

TEST(Safetensors, RoundTripIsBitIdenticalAndPreservesOrderAndMetadata) {
  const NamedTensors tensors = sample_tensors();
  const SafetensorsData got = decode_safetensors(encode_safetensors(tensors, kMeta), "mem");
  expect_same(tensors, got);
  EXPECT_EQ(got.metadata, kMeta);
  EXPECT_EQ(got.tensors[10].second.dim(), 0);  // scalar
  EXPECT_EQ(got.tensors[11].second.sizes(), at::IntArrayRef({0, 3}));
  EXPECT_TRUE(torch::equal(got.tensors[5].second, tensors[5].second));
}

TEST(Safetensors, RoundTripOfNoTensorsAndNoMetadata) {
  const std::string bytes = encode_safetensors({});
  EXPECT_EQ(bytes.size(), 16u);  // "{}" padded to 8
  const SafetensorsData got = decode_safetensors(bytes, "mem");
  EXPECT_TRUE(got.tensors.empty());
  EXPECT_TRUE(got.metadata.empty());
}

TEST(Safetensors, WritesNonContiguousAndOffsetViewsAsContiguousData) {
  const at::Tensor base = torch::arange(24, torch::kFloat).reshape({4, 6});
  const NamedTensors tensors = {{"transposed", base.t()},
                                {"slice", base.slice(1, 2, 5)},
                                {"row", base[3]},
                                {"grad", torch::ones({2}, torch::requires_grad())}};
  const SafetensorsData got = decode_safetensors(encode_safetensors(tensors), "mem");
  ASSERT_EQ(got.tensors.size(), 4u);
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_TRUE(torch::equal(got.tensors[i].second, tensors[i].second.detach()));
    EXPECT_TRUE(got.tensors[i].second.is_contiguous());
  }
}

TEST(Safetensors, HeaderIsSpacePaddedTo8ByteAlignment) {
  for (size_t len = 1; len <= 17; ++len) {
    const std::string bytes =
        encode_safetensors({{std::string(len, 'k'), torch::ones({3}, torch::kByte)}});
    const uint64_t n = header_length(bytes);
    EXPECT_EQ(n % 8, 0u) << "name length " << len;
    EXPECT_EQ(bytes.size(), 8 + n + 3);
    const std::string header = bytes.substr(8, n);
    const size_t close = header.find_last_of('}');
    EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);
  }
}

TEST(Safetensors, FindReturnsTensorOrNull) {
  const SafetensorsData got = decode_safetensors(
      encode_safetensors({{"a", torch::ones({1})}, {"b", torch::zeros({2})}}), "mem");
  ASSERT_NE(got.find("b"), nullptr);
  EXPECT_EQ(got.find("b")->numel(), 2);
  EXPECT_EQ(got.find("missing"), nullptr);
}

TEST(Safetensors, ReadReturnsTensorsSortedByDataOffset) {
  std::string data(8, '\0');
  data[0] = 1;  // "b"
  data[4] = 2;  // "a"
  const std::string bytes = frame(R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},)"
                                  R"("b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                                  data);
  const SafetensorsData got = decode_safetensors(bytes, "mem");
  ASSERT_EQ(got.tensors.size(), 2u);
  EXPECT_EQ(got.tensors[0].first, "b");
  EXPECT_EQ(got.tensors[0].second.item<int32_t>(), 1);
  EXPECT_EQ(got.tensors[1].first, "a");
  EXPECT_EQ(got.tensors[1].second.item<int32_t>(), 2);
}

TEST(Safetensors, AcceptsHandWrittenUnpaddedHeaderAndEmptyTensorsAtSameOffset) {
  const std::string bytes =
      frame(R"({"__metadata__":{},"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
            R"("e2":{"dtype":"BOOL","shape":[2,0],"data_offsets":[0,0]},)"
            R"("x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
            std::string(1, '\x07'));
  const SafetensorsData got = decode_safetensors(bytes, "mem");
  ASSERT_EQ(got.tensors.size(), 3u);
  EXPECT_EQ(got.tensors[2].second.item<uint8_t>(), 7);
}

TEST(Safetensors, RejectsFileTruncatedAtEveryCutPoint) {
  const std::string bytes = encode_safetensors(sample_tensors(), kMeta);
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_THROW(decode_safetensors(bytes.substr(0, cut), "cut"), FormatError) << "cut " << cut;
}

TEST(Safetensors, RejectsHeaderLengthLargerThanFile) {
  const std::string good = frame(R"({})");
  EXPECT_THROW(decode_safetensors(with_length(3, "{}"), "lie"), FormatError);
  EXPECT_THROW(decode_safetensors(with_length(999999, good.substr(8)), "lie"), FormatError);
  EXPECT_THROW(decode_safetensors(with_length(~uint64_t{0}, "{}"), "lie"), FormatError);
  try {
    decode_safetensors(with_length(200'000'000, "{}"), "big.safetensors");
    FAIL() << "no throw";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsOverlappingOffsets) {
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                        R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                                        std::string(6, '\0')),
                                  "overlap"),
               FormatError);
  // Same range twice.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                        R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                                        std::string(4, '\0')),
                                  "overlap"),
               FormatError);
}

TEST(Safetensors, RejectsOffsetsPastEnd) {
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})",
                                        std::string(4, '\0')),
                                  "past"),
               FormatError);
  EXPECT_THROW(
      decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[0],)"
                               R"("data_offsets":[18446744073709551615,18446744073709551615]}})"),
                         "past"),
      FormatError);
}

TEST(Safetensors, RejectsBeginAfterEnd) {
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[4,2]}})",
                                        std::string(4, '\0')),
                                  "order"),
               FormatError);
}

TEST(Safetensors, RejectsSizeShapeMismatch) {
  // 3 F32 need 12 bytes, range holds 8.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                        std::string(8, '\0')),
                                  "size"),
               FormatError);
  // Shape product overflows 64 bits.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],)"
                                        R"("data_offsets":[0,0]}})"),
                                  "size"),
               FormatError);
}

TEST(Safetensors, RejectsUnknownDtype) {
  for (const char* dtype : {"F8_E4M3", "f32", "C64", "U16", ""})
    EXPECT_THROW(decode_safetensors(frame(std::string(R"({"a":{"dtype":")") + dtype +
                                              R"(","shape":[],"data_offsets":[0,4]}})",
                                          std::string(4, '\0')),
                                    "dtype"),
                 FormatError)
        << dtype;
}

TEST(Safetensors, RejectsNonJsonOrNonObjectHeader) {
  for (const char* header : {"{not json}", "{\"a\":1", "[1,2,3]", "null", "   {}", "{}x",
                             "{\"a\":\"\xff\"}", "\xef\xbb\xbf{}"})
    EXPECT_THROW(decode_safetensors(frame(header), "json"), FormatError) << header;
  EXPECT_THROW(decode_safetensors(with_length(0, ""), "json"), FormatError);
}

// Issue 18: a header nested 100,000 levels deep overflowed the stack when the message quoted
// the value; nesting is now bounded while parsing.
TEST(Safetensors, RejectsDeeplyNestedHeaderWithoutRecursing) {
  const int n = 100000;
  for (const std::string& inner : {std::string(n, '[') + std::string(n, ']'),
                                   std::string(n, '[')}) {  // complete and unterminated
    const std::string header = "{\"t\":" + inner + "}";
    try {
      decode_safetensors(frame(header), "deep.safetensors");
      ADD_FAILURE() << "accepted";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("deep.safetensors"), std::string::npos) << what;
      EXPECT_LT(what.size(), 400u) << what;
    }
  }
  std::string nested_meta = "{\"__metadata__\":{\"k\":";
  for (int i = 0; i < n; ++i) nested_meta += "{\"a\":";
  EXPECT_THROW(decode_safetensors(frame(nested_meta + "1" + std::string(n + 2, '}')), "deep"),
               FormatError);
}

TEST(Safetensors, RejectsDuplicateKeys) {
  const std::string entry = R"({"dtype":"U8","shape":[0],"data_offsets":[0,0]})";
  EXPECT_THROW(decode_safetensors(frame("{\"a\":" + entry + ",\"a\":" + entry + "}"), "dup"),
               FormatError);
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","dtype":"U8","shape":[0],)"
                                        R"("data_offsets":[0,0]}})"),
                                  "dup"),
               FormatError);
  EXPECT_THROW(decode_safetensors(frame(R"({"__metadata__":{"k":"1","k":"2"}})"), "dup"),
               FormatError);
}

TEST(Safetensors, RejectsHolesAndTrailingBytes) {
  // Hole between tensors.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                        R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                                        std::string(6, '\0')),
                                  "hole"),
               FormatError);
  // Hole before the first tensor.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                                        std::string(4, '\0')),
                                  "hole"),
               FormatError);
  // Trailing bytes after the last tensor, and data with no tensors at all.
  EXPECT_THROW(decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                                        std::string(3, '\0')),
                                  "trailing"),
               FormatError);
  EXPECT_THROW(decode_safetensors(frame("{}", "x"), "trailing"), FormatError);
  try {
    decode_safetensors(frame(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                             R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                             std::string(3, '\0')),
                       "hole.safetensors");
    FAIL() << "no throw";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("no overlaps or holes"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsMissingOrMistypedEntryFields) {
  const std::vector<std::string> bad = {
      R"({"a":{"shape":[1],"data_offsets":[0,1]}})",                         // no dtype
      R"({"a":{"dtype":"U8","data_offsets":[0,1]}})",                        // no shape
      R"({"a":{"dtype":"U8","shape":[1]}})",                                 // no offsets
      R"({"a":{"dtype":8,"shape":[1],"data_offsets":[0,1]}})",               // dtype type
      R"({"a":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})",            // shape type
      R"({"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})",          // float dim
      R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})",           // negative dim
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})",              // one offset
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})",          // three offsets
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,1]}})",           // negative offset
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{"b":0,"e":1}}})",    // offsets type
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}})",  // unknown field
      R"({"a":[0,1]})",                                                      // not an object
      R"({"__metadata__":{"k":1}})",                                         // metadata value
      R"({"__metadata__":["k"]})",                                           // metadata type
  };
  for (const std::string& header : bad)
    EXPECT_THROW(decode_safetensors(frame(header, std::string(1, '\0')), "fields"), FormatError)
        << header;
}

TEST(Safetensors, RejectsBoolBytesOtherThanZeroOrOne) {
  EXPECT_THROW(
      decode_safetensors(frame(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                               std::string("\x01\x02", 2)),
                         "bool"),
      FormatError);
}

TEST(Safetensors, ErrorMessageNamesOriginKeyAndHint) {
  try {
    decode_safetensors(frame(R"({"lora_A":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                             std::string(8, '\0')),
                       "adapter_model.safetensors");
    FAIL() << "no throw";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("adapter_model.safetensors: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("\"lora_A\""), std::string::npos) << msg;
    EXPECT_EQ(msg.back(), ')') << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  try {
    decode_safetensors("short", "tiny.safetensors");
    FAIL() << "no throw";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("tiny.safetensors: ", 0), 0u) << e.what();
  }
}

TEST(Safetensors, WriterRejectsUnsupportedInput) {
  EXPECT_THROW(encode_safetensors({{"c", torch::ones({2}, torch::kComplexFloat)}}), FormatError);
  EXPECT_THROW(encode_safetensors({{"a", torch::ones({1})}, {"a", torch::ones({1})}}), FormatError);
  EXPECT_THROW(encode_safetensors({{"__metadata__", torch::ones({1})}}), FormatError);
  EXPECT_THROW(encode_safetensors({{"u", at::Tensor()}}), FormatError);
  EXPECT_THROW(encode_safetensors({{"bad\xff", torch::ones({1})}}), FormatError);
  EXPECT_THROW(encode_safetensors({}, {{"k", "bad\xff"}}), FormatError);
}

TEST_F(SafetensorsFileTest, WriteThenReadRoundTripsAndLeavesNoTmpFile) {
  const std::string path = (dir_ / "adapter.safetensors").string();
  const NamedTensors tensors = sample_tensors();
  write_safetensors(path, tensors, kMeta);
  EXPECT_EQ(listing(), std::vector<std::string>{"adapter.safetensors"});
  const SafetensorsData got = read_safetensors(path);
  expect_same(tensors, got);
  EXPECT_EQ(got.metadata, kMeta);
  // Overwriting an existing file replaces it, again without leftovers.
  write_safetensors(path, {{"only", torch::ones({2})}});
  EXPECT_EQ(listing(), std::vector<std::string>{"adapter.safetensors"});
  EXPECT_EQ(read_safetensors(path).tensors.size(), 1u);
}

TEST_F(SafetensorsFileTest, FailedWriteIntoMissingDirectoryThrowsAndLeavesNothing) {
  const std::string path = (dir_ / "missing" / "adapter.safetensors").string();
  EXPECT_THROW(write_safetensors(path, {{"a", torch::ones({2})}}), FormatError);
  EXPECT_TRUE(listing().empty());
  // Invalid input fails before any file is created.
  const std::string path2 = (dir_ / "x.safetensors").string();
  EXPECT_THROW(write_safetensors(path2, {{"c", torch::ones({1}, torch::kComplexFloat)}}),
               FormatError);
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsFileTest, ReadRejectsTruncatedFilesOnDisk) {
  const std::string bytes = encode_safetensors(sample_tensors(), kMeta);
  const std::string path = (dir_ / "t.safetensors").string();
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, bytes.size() - 1}) {
    {
      std::FILE* f = std::fopen(path.c_str(), "wb");
      ASSERT_NE(f, nullptr);
      std::fwrite(bytes.data(), 1, cut, f);
      std::fclose(f);
    }
    EXPECT_THROW(read_safetensors(path), FormatError) << "cut " << cut;
  }
}

TEST_F(SafetensorsFileTest, ReadMissingFileThrowsNamingPath) {
  const std::string path = (dir_ / "nope.safetensors").string();
  try {
    read_safetensors(path);
    FAIL() << "no throw";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  }
  EXPECT_THROW(read_safetensors(dir_.string()), FormatError);  // a directory
}
