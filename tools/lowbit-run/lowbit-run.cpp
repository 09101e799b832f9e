//===- lowbit-run.cpp - Run a compiled lowbit model -----------------------===//
//
// lowbit-run MODEL.so [--input NAME=FILE.npy ...] [--output-dir DIR]
//            [--bench] [--perplexity=TOKENS.txt [--chunk=N]]
//            [--generate=N --prompt=IDS] [--calibrate=FILE --calibration-out=DIR]
//
// Loads a library built by `lowbitc --emit=lib` and drives it through its C
// API (lowbit-c/Runtime.h) only. See --help.
//
// Built a second time with LOWBIT_RUN_EMBEDDED (liblowbit_run_main.a), it is
// the driver of `lowbitc --emit=exe`: the same program with the model linked
// in, so it takes no MODEL argument.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Runtime.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
#ifdef LOWBIT_RUN_EMBEDDED
constexpr bool kEmbedded = true;
#else
constexpr bool kEmbedded = false;
#endif
#ifdef LOWBIT_RUN_EMBEDDED
const char *kUsageHead = R"(usage: %s [options]

Runs the model built into this executable (lowbitc --emit=exe).
)";
#else
const char *kUsageHead = R"(usage: %s MODEL.so [options]

Runs a model compiled with `lowbitc --emit=lib` through its C API.
)";
#endif
const char *kUsage = R"(
  --input NAME=FILE.npy   an input from a .npy file (repeatable); inputs not
                          given are generated deterministically: dynamic sizes
                          are 1 (0 for the sequence axis of past.* KV-cache
                          inputs), values uniform in [-1, 1) (floats) or 0/1
  --output-dir DIR        write each output to DIR/<name>.npy (DIR is created
                          if missing)
  --bench                 time the run: warm-up, then repeats; prints the
                          median and the spread (min, max) in milliseconds
  --warmup N, --repeats N bench settings (default 3 and 20)
  --perplexity=FILE       a language model's perplexity on FILE (one sequence
                          of token ids per line): prints
                          `perplexity: <value> tokens: <count>`
  --chunk=N               with --perplexity: feed each sequence N tokens at a
                          time through the KV cache (1 = pure decode); 0, the
                          default, runs it as one prompt
  --max-len=N             with --perplexity: use the first N tokens of each
                          sequence (default 512)
  --generate=N            greedy decoding of N tokens through the KV cache
  --prompt=IDS            the prompt for --generate (ids separated by spaces or
                          commas; default "1", BOS)
  --calibrate=FILE        run calibration data through a model compiled with
                          taps (lowbitc --instrument-calibration): FILE holds
                          token ids, one sequence per line (or an int64 .npy
                          [sequences, length]); each sequence (first --max-len
                          tokens) runs as one prompt with an empty KV cache.
                          Or sample:COUNT:LENGTH: COUNT sequences of LENGTH
                          tokens sampled from the model itself (temperature
                          1, fixed seed) from --prompt. Or an .npz (np.savez)
                          of the model's inputs by name:
                          one run on them (any model; a language model's
                          missing past.* are empty)
  --calibration-out=DIR   where --calibrate writes the statistics: DIR/taps.txt
                          (one `name channels tokens` line per tap) and, for
                          tap i, DIR/i.abs_max.npy, i.mean_abs.npy [channels]
                          and i.xtx.npy [channels, channels] (float64)
  --threads N             threads the model may use (default 1)
  --device=auto|cpu|cuda  where the model runs (default auto: a library
                          compiled with --target=cpu,cuda runs its quantized
                          matrix products on the GPU when one is found, the
                          CPU otherwise; cuda: an error if it cannot). The
                          device that ran is printed on stderr at the end
  --help                  this text

Language-model modes need inputs input_ids and past.L.key/value and outputs
logits and present.L.key/value, as the PyTorch exporter writes them.
)";

/// Bytes per element: the model library's lowbit_dtype_size, set once the
/// library is loaded (before any tensor is made).
size_t (*elementSize)(lowbit_dtype) = nullptr;

struct Api {
  void *handle = nullptr;
  decltype(&lowbit_model_create) create;
  decltype(&lowbit_model_destroy) destroy;
  decltype(&lowbit_model_num_inputs) numInputs;
  decltype(&lowbit_model_num_outputs) numOutputs;
  decltype(&lowbit_model_input_info) inputInfo;
  decltype(&lowbit_model_output_info) outputInfo;
  decltype(&lowbit_model_set_num_threads) setNumThreads;
  decltype(&lowbit_model_run) run;
  decltype(&lowbit_model_last_error) lastError;
  decltype(&lowbit_tensor_release) release;
  decltype(&lowbit_calibration_taps) calibrationTaps;
  decltype(&lowbit_calibration_stats) calibrationStats;
  decltype(&lowbit_calibration_reset) calibrationReset;
  // Decode sessions (absent from libraries built before them).
  decltype(&lowbit_session_create) sessionCreate = nullptr;
  decltype(&lowbit_session_step) sessionStep = nullptr;
  decltype(&lowbit_session_destroy) sessionDestroy = nullptr;
  decltype(&lowbit_session_last_error) sessionLastError = nullptr;
  // Device selection (absent from libraries built before it).
  decltype(&lowbit_model_set_device) setDevice = nullptr;
  decltype(&lowbit_model_device) device = nullptr;

#ifdef LOWBIT_RUN_EMBEDDED
  bool load(const std::string &, std::string &) {
    create = lowbit_model_create;
    destroy = lowbit_model_destroy;
    numInputs = lowbit_model_num_inputs;
    numOutputs = lowbit_model_num_outputs;
    inputInfo = lowbit_model_input_info;
    outputInfo = lowbit_model_output_info;
    setNumThreads = lowbit_model_set_num_threads;
    run = lowbit_model_run;
    lastError = lowbit_model_last_error;
    release = lowbit_tensor_release;
    calibrationTaps = lowbit_calibration_taps;
    calibrationStats = lowbit_calibration_stats;
    calibrationReset = lowbit_calibration_reset;
    sessionCreate = lowbit_session_create;
    sessionStep = lowbit_session_step;
    sessionDestroy = lowbit_session_destroy;
    sessionLastError = lowbit_session_last_error;
    setDevice = lowbit_model_set_device;
    device = lowbit_model_device;
    elementSize = lowbit_dtype_size;
    return true;
  }
#else
  bool load(const std::string &path, std::string &error) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      error = dlerror();
      return false;
    }
    auto get = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      if (!fn)
        error = std::string("not a lowbit model library: no symbol ") + name;
      return fn != nullptr;
    };
    return get(create, "lowbit_model_create") && get(destroy, "lowbit_model_destroy") &&
           get(numInputs, "lowbit_model_num_inputs") &&
           get(numOutputs, "lowbit_model_num_outputs") &&
           get(inputInfo, "lowbit_model_input_info") &&
           get(outputInfo, "lowbit_model_output_info") &&
           get(setNumThreads, "lowbit_model_set_num_threads") && get(run, "lowbit_model_run") &&
           get(lastError, "lowbit_model_last_error") && get(release, "lowbit_tensor_release") &&
           get(elementSize, "lowbit_dtype_size") &&
           get(calibrationTaps, "lowbit_calibration_taps") &&
           get(calibrationStats, "lowbit_calibration_stats") &&
           get(calibrationReset, "lowbit_calibration_reset") && optionalSessions();
  }

  bool optionalSessions() {
    sessionCreate = reinterpret_cast<decltype(sessionCreate)>(dlsym(handle, "lowbit_session_create"));
    sessionStep = reinterpret_cast<decltype(sessionStep)>(dlsym(handle, "lowbit_session_step"));
    sessionDestroy =
        reinterpret_cast<decltype(sessionDestroy)>(dlsym(handle, "lowbit_session_destroy"));
    sessionLastError =
        reinterpret_cast<decltype(sessionLastError)>(dlsym(handle, "lowbit_session_last_error"));
    if (!sessionCreate || !sessionStep || !sessionDestroy || !sessionLastError)
      sessionCreate = nullptr;
    setDevice = reinterpret_cast<decltype(setDevice)>(dlsym(handle, "lowbit_model_set_device"));
    device = reinterpret_cast<decltype(device)>(dlsym(handle, "lowbit_model_device"));
    if (!setDevice || !device)
      setDevice = nullptr, device = nullptr;
    return true;
  }
#endif
};

/// A tensor with its own storage.
struct Tensor {
  std::string name;
  lowbit_dtype dtype = LOWBIT_F32;
  std::vector<int64_t> dims;
  std::vector<char> data;

  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : dims)
      n *= d;
    return n;
  }
  lowbit_tensor view() const {
    lowbit_tensor t{};
    t.name = name.c_str();
    t.dtype = dtype;
    t.rank = dims.size();
    std::copy(dims.begin(), dims.end(), t.dims);
    t.data = const_cast<char *>(data.data());
    return t;
  }
  static Tensor from(const lowbit_tensor &t) {
    Tensor out{t.name ? t.name : "", t.dtype, std::vector<int64_t>(t.dims, t.dims + t.rank), {}};
    out.data.assign(static_cast<char *>(t.data),
                    static_cast<char *>(t.data) + out.count() * elementSize(t.dtype));
    return out;
  }
  template <typename T> T *as() { return reinterpret_cast<T *>(data.data()); }
  template <typename T> const T *as() const { return reinterpret_cast<const T *>(data.data()); }
};

//===----------------------------------------------------------------------===//
// .npy files (version 1, C order)
//===----------------------------------------------------------------------===//

const std::map<std::string, lowbit_dtype> kNpyTypes = {
    {"<f4", LOWBIT_F32},  {"<f8", LOWBIT_F64}, {"<f2", LOWBIT_F16}, {"<i8", LOWBIT_I64},
    {"<i4", LOWBIT_I32},  {"<i2", LOWBIT_I16}, {"|i1", LOWBIT_I8},  {"|u1", LOWBIT_U8},
    {"|b1", LOWBIT_BOOL}, {"<u2", LOWBIT_U16}, {"<u4", LOWBIT_U32}, {"<u8", LOWBIT_U64}};

/// float8/float4 and 2-/4-bit integers: one byte per element, which .npy
/// has no type for (numpy writes ml_dtypes' arrays as '<V1'). They are
/// written as '|u1' bit patterns and read from '|u1' or 'V1' files.
bool isNarrow(lowbit_dtype dtype) { return dtype >= LOWBIT_F8E4M3FN && dtype <= LOWBIT_U2; }

bool readNpy(std::istream &in, const std::string &path, Tensor &tensor, std::string &error) {
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return error = path + ": not a .npy file", false;
  uint32_t headerLength = 0;
  if (magic[6] == 1) {
    uint16_t length;
    in.read(reinterpret_cast<char *>(&length), 2);
    headerLength = length;
  } else {
    in.read(reinterpret_cast<char *>(&headerLength), 4);
  }
  std::string header(headerLength, '\0');
  in.read(header.data(), headerLength);
  auto field = [&](const std::string &key) {
    size_t at = header.find("'" + key + "'");
    return at == std::string::npos ? std::string() : header.substr(header.find(':', at) + 1);
  };
  std::string descr = field("descr");
  descr = descr.substr(descr.find('\'') + 1);
  descr = descr.substr(0, descr.find('\''));
  if (descr == "<V1" || descr == "|V1")
    descr = "|u1"; // bytes of a narrow type (see isNarrow)
  if (!kNpyTypes.count(descr))
    return error = path + ": unsupported dtype " + descr, false;
  if (field("fortran_order").find("True") < field("fortran_order").find(','))
    return error = path + ": Fortran-ordered arrays are not supported", false;
  std::string shape = field("shape");
  shape = shape.substr(shape.find('(') + 1, shape.find(')') - shape.find('(') - 1);
  tensor.dims.clear();
  std::stringstream dims(shape);
  for (std::string item; std::getline(dims, item, ',');)
    if (item.find_first_not_of(' ') != std::string::npos)
      tensor.dims.push_back(std::stoll(item));
  tensor.dtype = kNpyTypes.at(descr);
  tensor.data.resize(tensor.count() * elementSize(tensor.dtype));
  in.read(tensor.data.data(), tensor.data.size());
  if (!in && !tensor.data.empty())
    return error = path + ": truncated data", false;
  return true;
}

bool readNpy(const std::string &path, Tensor &tensor, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error = "cannot open " + path, false;
  return readNpy(in, path, tensor, error);
}

bool endsWith(const std::string &text, const char *suffix) {
  size_t n = std::strlen(suffix);
  return text.size() > n && text.compare(text.size() - n, n, suffix) == 0;
}

/// The arrays of an .npz (np.savez: a zip archive of NAME.npy files, stored
/// uncompressed), by NAME.
bool readNpz(const std::string &path, std::map<std::string, Tensor> &arrays, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error = "cannot open " + path, false;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto u16 = [&](size_t at) { return uint32_t(uint8_t(data[at])) | uint32_t(uint8_t(data[at + 1])) << 8; };
  auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  size_t at = 0;
  while (at + 30 <= data.size() && u32(at) == 0x04034b50) { // a local file header
    uint32_t method = u16(at + 8), nameLength = u16(at + 26), extraLength = u16(at + 28);
    uint64_t size = u32(at + 18);
    if (u16(at + 6) & 8)
      return error = path + ": unsupported .npz layout (streamed entries)", false;
    std::string name = data.substr(at + 30, nameLength);
    size_t start = at + 30 + nameLength + extraLength;
    // numpy writes zip64 entries: the sizes are then in the extra field
    // (id 1: the uncompressed size, then the compressed one, 8 bytes each).
    for (size_t extra = at + 30 + nameLength; size == 0xffffffffu && extra + 4 <= start;
         extra += 4 + u16(extra + 2))
      if (u16(extra) == 1 && u16(extra + 2) >= 16)
        size = uint64_t(u32(extra + 12)) | uint64_t(u32(extra + 16)) << 32;
    if (method != 0)
      return error = path + ": " + name +
                     " is compressed (np.savez_compressed); write the inputs with np.savez",
             false;
    if (start + size > data.size())
      return error = path + ": truncated", false;
    if (endsWith(name, ".npy"))
      name.resize(name.size() - 4);
    std::istringstream entry(data.substr(start, size));
    if (!readNpy(entry, path + ":" + name, arrays[name], error))
      return false;
    arrays[name].name = name;
    at = start + size;
  }
  if (arrays.empty())
    return error = path + ": not an .npz archive", false;
  return true;
}

bool writeNpy(const std::string &path, const Tensor &tensor) {
  std::string descr = isNarrow(tensor.dtype) ? "|u1" : "";
  for (const auto &[name, dtype] : kNpyTypes)
    if (dtype == tensor.dtype)
      descr = name;
  std::string shape = "(";
  for (int64_t d : tensor.dims)
    shape += std::to_string(d) + ", ";
  if (tensor.dims.size() > 1)
    shape.erase(shape.size() - 2);
  else if (tensor.dims.size() == 1)
    shape.erase(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  // Written beside the target and renamed over it: a failed write leaves
  // no half-written .npy.
  std::string partial = path + ".partial";
  std::ofstream out(partial, std::ios::binary);
  uint16_t length = header.size();
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(reinterpret_cast<const char *>(&length), 2);
  out << header;
  out.write(tensor.data.data(), tensor.data.size());
  out.close();
  if (!out || std::rename(partial.c_str(), path.c_str()) != 0) {
    std::remove(partial.c_str());
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// The model
//===----------------------------------------------------------------------===//

class Runner {
public:
  Runner(Api &api, lowbit_model *model) : api(api), model(model) {
    for (int64_t i = 0; i < api.numInputs(model); ++i) {
      lowbit_tensor_info info;
      api.inputInfo(model, i, &info);
      inputs.push_back(info);
    }
    for (int64_t i = 0; i < api.numOutputs(model); ++i) {
      lowbit_tensor_info info;
      api.outputInfo(model, i, &info);
      outputs.push_back(info);
    }
  }

  /// Runs with `feeds` (by name); returns the outputs by name.
  bool run(const std::map<std::string, Tensor> &feeds, std::map<std::string, Tensor> &results) {
    std::vector<lowbit_tensor> in, out(outputs.size());
    for (const auto &info : inputs) {
      auto it = feeds.find(info.name);
      if (it == feeds.end()) {
        std::fprintf(stderr, "lowbit-run: no value for input '%s'\n", info.name);
        return false;
      }
      in.push_back(it->second.view());
    }
    lowbit_status status = api.run(model, in.data(), in.size(), out.data(), out.size());
    if (status == LOWBIT_OK)
      for (auto &t : out)
        results[t.name] = Tensor::from(t);
    for (auto &t : out)
      api.release(&t);
    if (status != LOWBIT_OK) {
      std::fprintf(stderr, "lowbit-run: %s\n", api.lastError(model));
      return false;
    }
    return true;
  }

  /// A deterministic input for `info` (see --help).
  static Tensor generated(const lowbit_tensor_info &info, uint64_t seed) {
    Tensor t{info.name, info.dtype, {}, {}};
    bool cache = std::strncmp(info.name, "past.", 5) == 0;
    for (int64_t d = 0; d < info.rank; ++d)
      t.dims.push_back(info.dims[d] >= 0 ? info.dims[d] : (cache && d == 2 ? 0 : 1));
    t.data.resize(t.count() * elementSize(t.dtype));
    uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int64_t i = 0; i < t.count(); ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      double u = double(state >> 11) / double(1ULL << 53);
      switch (t.dtype) {
      case LOWBIT_F32: t.as<float>()[i] = float(2 * u - 1); break;
      case LOWBIT_F64: t.as<double>()[i] = 2 * u - 1; break;
      case LOWBIT_I64: t.as<int64_t>()[i] = u < 0.5 ? 0 : 1; break;
      case LOWBIT_I32: t.as<int32_t>()[i] = u < 0.5 ? 0 : 1; break;
      default: t.data[i * elementSize(t.dtype)] = u < 0.5 ? 0 : 1; break;
      }
    }
    return t;
  }

  bool isLanguageModel() const {
    bool ids = false, logits = false;
    for (const auto &i : inputs)
      ids |= std::strcmp(i.name, "input_ids") == 0;
    for (const auto &o : outputs)
      logits |= std::strcmp(o.name, "logits") == 0;
    return ids && logits;
  }

  /// Feeds for a language model: `ids` [1, n] and the cache (empty or given).
  std::map<std::string, Tensor> lmFeeds(const std::vector<int64_t> &ids,
                                        const std::map<std::string, Tensor> *presents) {
    std::map<std::string, Tensor> feeds;
    Tensor t{"input_ids", LOWBIT_I64, {1, int64_t(ids.size())}, {}};
    t.data.resize(ids.size() * 8);
    std::memcpy(t.data.data(), ids.data(), t.data.size());
    feeds["input_ids"] = t;
    for (const auto &info : inputs) {
      std::string name = info.name;
      if (name.rfind("past.", 0) != 0)
        continue;
      if (presents) {
        Tensor p = presents->at("present." + name.substr(5));
        p.name = name;
        feeds[name] = p;
      } else {
        feeds[name] = generated(info, 0);
      }
    }
    return feeds;
  }

  Api &api;
  lowbit_model *model;
  std::vector<lowbit_tensor_info> inputs, outputs;
};

std::vector<int64_t> parseIds(const std::string &text) {
  std::vector<int64_t> ids;
  std::string item;
  for (char c : text + " ") {
    if (c == ' ' || c == ',' || c == '\t') {
      if (!item.empty())
        ids.push_back(std::stoll(item));
      item.clear();
    } else {
      item += c;
    }
  }
  return ids;
}

/// log-softmax(row)[target] in double precision.
double logProbability(const float *row, int64_t vocab, int64_t target) {
  double top = *std::max_element(row, row + vocab), sum = 0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(double(row[v]) - top);
  return double(row[target]) - top - std::log(sum);
}

int perplexity(Runner &runner, const std::string &path, int64_t chunk, int64_t maxLength) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "lowbit-run: cannot open %s\n", path.c_str());
    return 1;
  }
  double nll = 0;
  int64_t tokens = 0, sequences = 0;
  for (std::string line; std::getline(in, line);) {
    std::vector<int64_t> ids = parseIds(line);
    if (ids.size() > size_t(maxLength))
      ids.resize(maxLength);
    if (ids.size() < 2)
      continue;
    std::map<std::string, Tensor> results;
    int64_t step = chunk > 0 ? chunk : ids.size();
    for (size_t start = 0; start + 1 < ids.size(); start += step) {
      size_t end = std::min(ids.size() - 1, start + step); // predict up to the last token
      std::vector<int64_t> piece(ids.begin() + start, ids.begin() + end);
      auto feeds = runner.lmFeeds(piece, start == 0 ? nullptr : &results);
      std::map<std::string, Tensor> next;
      if (!runner.run(feeds, next))
        return 1;
      const Tensor &logits = next.at("logits");
      int64_t vocab = logits.dims.back();
      for (size_t i = 0; i < piece.size(); ++i)
        nll -= logProbability(logits.as<float>() + i * vocab, vocab, ids[start + i + 1]);
      tokens += piece.size();
      results = std::move(next);
    }
    ++sequences;
    if (isatty(fileno(stderr)))
      std::fprintf(stderr, "\rlowbit-run: %lld sequences, %lld tokens", (long long)sequences,
                   (long long)tokens);
  }
  if (isatty(fileno(stderr)))
    std::fprintf(stderr, "\n");
  std::printf("perplexity: %.4f tokens: %lld\n", std::exp(nll / tokens), (long long)tokens);
  return 0;
}

/// The token sequences of a calibration file: text, one sequence per line,
/// or an int64 .npy [sequences, length].
bool readSequences(const std::string &path, std::vector<std::vector<int64_t>> &sequences,
                   std::string &error) {
  if (endsWith(path, ".npy")) {
    Tensor ids;
    if (!readNpy(path, ids, error))
      return false;
    if (ids.dtype != LOWBIT_I64 || ids.dims.size() != 2)
      return error = path + ": expected int64 token ids of shape [sequences, length]", false;
    for (int64_t s = 0; s < ids.dims[0]; ++s)
      sequences.emplace_back(ids.as<int64_t>() + s * ids.dims[1],
                             ids.as<int64_t>() + (s + 1) * ids.dims[1]);
    return true;
  }
  std::ifstream in(path);
  if (!in)
    return error = "cannot open " + path, false;
  for (std::string line; std::getline(in, line);) {
    try {
      std::vector<int64_t> ids = parseIds(line);
      if (!ids.empty())
        sequences.push_back(std::move(ids));
    } catch (const std::exception &) {
      return error = path + ":" + std::to_string(sequences.size() + 1) +
                     ": not a line of token ids", false;
    }
  }
  if (sequences.empty())
    return error = path + ": no token sequences", false;
  return true;
}

/// Writes the statistics every tap gathered to DIR (see --help).
int writeCalibration(Api &api, const std::string &dir) {
  const char *names = api.calibrationTaps();
  if (!names) {
    std::fprintf(stderr, "lowbit-run: the model has no calibration taps (compile it with "
                         "lowbitc --instrument-calibration)\n");
    return 1;
  }
  std::ofstream list(dir + "/taps.txt");
  std::istringstream lines(names);
  int64_t id = 0;
  for (std::string name; std::getline(lines, name); ++id) {
    int64_t channels = 0, tokens = 0;
    api.calibrationStats(id, &channels, &tokens, nullptr, nullptr, nullptr);
    Tensor absMax{"", LOWBIT_F64, {channels}, {}}, meanAbs = absMax,
        xtx{"", LOWBIT_F64, {channels, channels}, {}};
    absMax.data.resize(channels * 8);
    meanAbs.data.resize(channels * 8);
    xtx.data.resize(channels * channels * 8);
    api.calibrationStats(id, &channels, &tokens, absMax.as<double>(), meanAbs.as<double>(),
                         xtx.as<double>());
    std::string prefix = dir + "/" + std::to_string(id);
    if (!writeNpy(prefix + ".abs_max.npy", absMax) ||
        !writeNpy(prefix + ".mean_abs.npy", meanAbs) || !writeNpy(prefix + ".xtx.npy", xtx)) {
      std::fprintf(stderr, "lowbit-run: cannot write %s.*.npy\n", prefix.c_str());
      return 1;
    }
    list << name << " " << channels << " " << tokens << "\n";
  }
  list.close();
  if (!list) {
    std::fprintf(stderr, "lowbit-run: cannot write %s/taps.txt\n", dir.c_str());
    return 1;
  }
  return 0;
}

/// `count` sequences of `length` tokens sampled from the model itself
/// (softmax at temperature 1, a fixed seed), each from `prompt`.
bool sampleSequences(Runner &runner, int64_t count, int64_t length,
                     const std::vector<int64_t> &prompt,
                     std::vector<std::vector<int64_t>> &sequences) {
  uint64_t state = 0x853c49e6748fea9bULL;
  for (int64_t s = 0; s < count; ++s) {
    std::vector<int64_t> tokens = prompt, piece = prompt;
    std::map<std::string, Tensor> results;
    while (int64_t(tokens.size()) < length) {
      std::map<std::string, Tensor> next;
      if (!runner.run(runner.lmFeeds(piece, tokens.size() == prompt.size() ? nullptr : &results),
                      next))
        return false;
      const Tensor &logits = next.at("logits");
      int64_t vocab = logits.dims.back(), rows = logits.dims[1];
      const float *last = logits.as<float>() + (rows - 1) * vocab;
      double top = *std::max_element(last, last + vocab), total = 0;
      for (int64_t v = 0; v < vocab; ++v)
        total += std::exp(double(last[v]) - top);
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      double u = double(state >> 11) / double(1ULL << 53) * total, sum = 0;
      int64_t token = vocab - 1;
      for (int64_t v = 0; v < vocab; ++v)
        if ((sum += std::exp(double(last[v]) - top)) > u) {
          token = v;
          break;
        }
      tokens.push_back(token);
      piece = {token};
      results = std::move(next);
    }
    sequences.push_back(std::move(tokens));
    if (isatty(fileno(stderr)) || s + 1 == count)
      std::fprintf(stderr, "\rlowbit-run: sampled %lld/%lld sequences of %lld tokens%s",
                   (long long)(s + 1), (long long)count, (long long)length,
                   s + 1 == count ? "\n" : "");
  }
  return true;
}

/// One calibration run on the named inputs of an .npz (any model; a
/// language model's missing past.* are empty caches), then the statistics.
int calibrateOnInputs(Runner &runner, const std::string &path, const std::string &dir) {
  std::map<std::string, Tensor> feeds, results;
  std::string error;
  if (!readNpz(path, feeds, error)) {
    std::fprintf(stderr, "lowbit-run: %s\n", error.c_str());
    return 1;
  }
  for (const auto &info : runner.inputs)
    if (!feeds.count(info.name)) {
      if (std::strncmp(info.name, "past.", 5) != 0) {
        std::fprintf(stderr, "lowbit-run: %s has no array '%s' (the model's input)\n",
                     path.c_str(), info.name);
        return 1;
      }
      feeds[info.name] = Runner::generated(info, 0);
    }
  if (!runner.run(feeds, results))
    return 1;
  std::fprintf(stderr, "lowbit-run: calibration: one run on %s\n", path.c_str());
  return writeCalibration(runner.api, dir);
}

/// Runs each calibration sequence (read from `path`, or sampled) as one
/// prompt with an empty cache, then writes the taps' statistics.
int calibrate(Runner &runner, const std::string &path, int64_t maxLength,
              const std::vector<int64_t> &prompt, const std::string &dir) {
  std::vector<std::vector<int64_t>> sequences;
  std::string error;
  long long count = 0, length = 0;
  if (path.rfind("sample:", 0) == 0) {
    if (std::sscanf(path.c_str(), "sample:%lld:%lld", &count, &length) != 2 || count < 1 ||
        length <= int64_t(prompt.size())) {
      std::fprintf(stderr, "lowbit-run: --calibrate=sample:COUNT:LENGTH (LENGTH longer than "
                           "the prompt), got %s\n",
                   path.c_str());
      return 1;
    }
    if (!sampleSequences(runner, count, length, prompt, sequences))
      return 1;
    runner.api.calibrationReset(); // what the taps saw while sampling
  } else if (!readSequences(path, sequences, error)) {
    std::fprintf(stderr, "lowbit-run: %s\n", error.c_str());
    return 1;
  }
  int64_t tokens = 0;
  auto start = std::chrono::steady_clock::now();
  for (size_t s = 0; s < sequences.size(); ++s) {
    std::vector<int64_t> &ids = sequences[s];
    if (ids.size() > size_t(maxLength))
      ids.resize(maxLength);
    std::map<std::string, Tensor> results;
    if (!runner.run(runner.lmFeeds(ids, nullptr), results))
      return 1;
    tokens += ids.size();
    if (isatty(fileno(stderr)) || s + 1 == sequences.size())
      std::fprintf(stderr, "\rlowbit-run: calibration: %zu/%zu sequences, %lld tokens, %.1f s%s",
                   s + 1, sequences.size(), (long long)tokens,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                   s + 1 == sequences.size() ? "\n" : "");
  }
  return writeCalibration(runner.api, dir);
}

/// The logits of one token: `vocab` floats (null on failure).
struct Row {
  const float *logits;
  int64_t vocab;
};

/// Greedy decoding of `count` tokens after `prompt`: `step(piece)` runs the
/// piece after those before it and returns the logits of its last token.
/// Prints the tokens and the rate.
int greedy(int64_t count, const std::vector<int64_t> &prompt,
           const std::function<Row(const std::vector<int64_t> &)> &step) {
  std::vector<int64_t> tokens = prompt, piece = prompt;
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < count; ++i) {
    Row last = step(piece);
    if (!last.logits)
      return 1;
    int64_t token = std::max_element(last.logits, last.logits + last.vocab) - last.logits;
    tokens.push_back(token);
    piece = {token};
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = prompt.size(); i < tokens.size(); ++i)
    std::printf("%s%lld", i == prompt.size() ? "" : " ", (long long)tokens[i]);
  std::printf("\ntokens/s: %.1f\n", count / seconds);
  return 0;
}

/// Greedy decoding through a decode session (lowbit_session_*), the cache,
/// whatever its layout, kept inside the runtime; for libraries built before
/// sessions, through the C API with the presents fed back as pasts.
int generate(Runner &runner, int64_t count, const std::vector<int64_t> &prompt) {
  int64_t vocab = 0;
  for (const auto &info : runner.outputs)
    if (std::strcmp(info.name, "logits") == 0 && info.rank == 3)
      vocab = info.dims[2];
  Api &api = runner.api;
  if (api.sessionCreate && vocab > 0 && !prompt.empty()) {
    char message[512];
    lowbit_session *session = api.sessionCreate(runner.model, message, sizeof message);
    if (!session) {
      std::fprintf(stderr, "lowbit-run: %s\n", message);
      return 1;
    }
    std::unique_ptr<lowbit_session, void (*)(lowbit_session *)> owner(session, api.sessionDestroy);
    std::vector<float> logits;
    return greedy(count, prompt, [&](const std::vector<int64_t> &piece) -> Row {
      logits.resize(piece.size() * vocab);
      if (api.sessionStep(session, piece.data(), piece.size(), logits.data(), logits.size()) !=
          LOWBIT_OK) {
        std::fprintf(stderr, "lowbit-run: %s\n", api.sessionLastError(session));
        return {nullptr, 0};
      }
      return {logits.data() + (piece.size() - 1) * vocab, vocab};
    });
  }
  std::map<std::string, Tensor> results;
  bool first = true;
  return greedy(count, prompt, [&](const std::vector<int64_t> &piece) -> Row {
    std::map<std::string, Tensor> next;
    if (!runner.run(runner.lmFeeds(piece, first ? nullptr : &results), next))
      return {nullptr, 0};
    first = false;
    results = std::move(next);
    const Tensor &logits = results.at("logits");
    return {logits.as<float>() + (logits.dims[1] - 1) * logits.dims.back(), logits.dims.back()};
  });
}
} // namespace

int main(int argc, char **argv) {
  std::string library, outputDir, perplexityFile, prompt = "1", calibrationFile,
      calibrationDir;
  std::vector<std::pair<std::string, std::string>> inputFiles;
  bool bench = false;
  int64_t warmup = 3, repeats = 20, chunk = 0, maxLength = 512, generateCount = -1, threads = 1;
  std::string device = "auto";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string &flag) -> std::string {
      if (arg.rfind(flag + "=", 0) == 0)
        return arg.substr(flag.size() + 1);
      if (arg == flag && i + 1 < argc)
        return argv[++i];
      std::fprintf(stderr, "lowbit-run: %s needs a value\n", flag.c_str());
      std::exit(1);
    };
    auto is = [&](const std::string &flag) { return arg == flag || arg.rfind(flag + "=", 0) == 0; };
    if (arg == "--help" || arg == "-h") {
      std::printf(kUsageHead, argv[0]);
      std::printf("%s", kUsage);
      return 0;
    } else if (is("--input")) {
      std::string spec = value("--input");
      size_t eq = spec.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "lowbit-run: --input takes NAME=FILE.npy\n");
        return 1;
      }
      inputFiles.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
    } else if (is("--output-dir")) {
      outputDir = value("--output-dir");
    } else if (arg == "--bench") {
      bench = true;
    } else if (is("--warmup")) {
      warmup = std::stoll(value("--warmup"));
    } else if (is("--repeats")) {
      repeats = std::max<int64_t>(1, std::stoll(value("--repeats")));
    } else if (is("--perplexity")) {
      perplexityFile = value("--perplexity");
    } else if (is("--chunk")) {
      chunk = std::stoll(value("--chunk"));
    } else if (is("--max-len")) {
      maxLength = std::stoll(value("--max-len"));
    } else if (is("--generate")) {
      generateCount = std::stoll(value("--generate"));
    } else if (is("--prompt")) {
      prompt = value("--prompt");
    } else if (is("--calibrate")) {
      calibrationFile = value("--calibrate");
    } else if (is("--calibration-out")) {
      calibrationDir = value("--calibration-out");
    } else if (is("--threads")) {
      threads = std::stoll(value("--threads"));
    } else if (is("--device")) {
      device = value("--device");
      if (device != "auto" && device != "cpu" && device != "cuda") {
        std::fprintf(stderr, "lowbit-run: --device=%s: expected auto, cpu or cuda\n",
                     device.c_str());
        return 1;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lowbit-run: unknown option %s (see --help)\n", arg.c_str());
      return 1;
    } else if (library.empty() && !kEmbedded) {
      library = arg;
    } else {
      std::fprintf(stderr, kEmbedded ? "%s: unexpected argument %s (see --help)\n"
                                     : "%s: more than one model given (%s)\n",
                   argv[0], arg.c_str());
      return 1;
    }
  }
  if (library.empty() && !kEmbedded) {
    std::fprintf(stderr, "lowbit-run: no model library given (see --help)\n");
    return 1;
  }
  if (!kEmbedded && library.find('/') == std::string::npos)
    library = "./" + library; // dlopen searches the library path otherwise
  Api api;
  std::string error;
  if (!api.load(library, error)) {
    std::fprintf(stderr, "lowbit-run: %s: %s\n", library.c_str(), error.c_str());
    return 1;
  }
  char message[256];
  lowbit_model *model = api.create(message, sizeof message);
  if (!model) {
    std::fprintf(stderr, "lowbit-run: %s\n", message);
    return 1;
  }
  std::unique_ptr<lowbit_model, void (*)(lowbit_model *)> owner(model, api.destroy);
  if (api.setNumThreads(model, int(threads)) != LOWBIT_OK) {
    std::fprintf(stderr, "lowbit-run: %s\n", api.lastError(model));
    return 1;
  }
  if (!api.setDevice && device == "cuda") {
    std::fprintf(stderr, "lowbit-run: --device=cuda: %s predates device selection\n",
                 library.c_str());
    return 1;
  }
  if (api.setDevice) {
    lowbit_device chosen = device == "cpu"    ? LOWBIT_DEVICE_CPU
                           : device == "cuda" ? LOWBIT_DEVICE_CUDA
                                              : LOWBIT_DEVICE_AUTO;
    if (api.setDevice(model, chosen) != LOWBIT_OK) {
      std::fprintf(stderr, "lowbit-run: %s\n", api.lastError(model));
      return 1;
    }
  }
  // Where it ran, said last (the model is destroyed after this).
  struct SayDevice {
    Api &api;
    lowbit_model *model;
    ~SayDevice() {
      if (api.device)
        std::fprintf(stderr, "lowbit-run: device: %s\n", api.device(model));
    }
  } sayDevice{api, model};
  Runner runner(api, model);
  if (calibrationFile.empty() != calibrationDir.empty()) {
    std::fprintf(stderr, "lowbit-run: --calibrate and --calibration-out go together\n");
    return 1;
  }
  if (!calibrationFile.empty()) {
    if (endsWith(calibrationFile, ".npz"))
      return calibrateOnInputs(runner, calibrationFile, calibrationDir);
    if (!runner.isLanguageModel()) {
      std::fprintf(stderr, "lowbit-run: --calibrate: token files are for language models "
                           "(input_ids -> logits); give this model's inputs as an .npz\n");
      return 1;
    }
    return calibrate(runner, calibrationFile, maxLength, parseIds(prompt), calibrationDir);
  }

  if (!perplexityFile.empty() || generateCount >= 0) {
    if (!runner.isLanguageModel()) {
      std::fprintf(stderr, "lowbit-run: --perplexity and --generate need a language model "
                           "(input_ids -> logits)\n");
      return 1;
    }
    if (!perplexityFile.empty())
      return perplexity(runner, perplexityFile, chunk, maxLength);
    return generate(runner, generateCount, parseIds(prompt));
  }

  std::map<std::string, Tensor> feeds;
  for (const auto &[name, file] : inputFiles) {
    Tensor t;
    if (!readNpy(file, t, error)) {
      std::fprintf(stderr, "lowbit-run: %s\n", error.c_str());
      return 1;
    }
    t.name = name;
    for (const lowbit_tensor_info &info : runner.inputs)
      if (name == info.name && isNarrow(info.dtype) && t.dtype == LOWBIT_U8)
        t.dtype = info.dtype; // the bit patterns of a narrow input
    feeds[name] = std::move(t);
  }
  for (size_t i = 0; i < runner.inputs.size(); ++i)
    if (!feeds.count(runner.inputs[i].name))
      feeds[runner.inputs[i].name] = Runner::generated(runner.inputs[i], i + 1);

  std::map<std::string, Tensor> results;
  if (!runner.run(feeds, results))
    return 1;
  if (bench) {
    for (int64_t i = 0; i < warmup; ++i)
      runner.run(feeds, results);
    std::vector<double> times;
    for (int64_t i = 0; i < repeats; ++i) {
      auto start = std::chrono::steady_clock::now();
      if (!runner.run(feeds, results))
        return 1;
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    std::printf("bench: median %.3f ms, min %.3f ms, max %.3f ms over %lld runs (%lld warm-up)\n",
                times[times.size() / 2], times.front(), times.back(), (long long)repeats,
                (long long)warmup);
  }
  std::error_code madeDir;
  if (!outputDir.empty() && !std::filesystem::is_directory(outputDir) &&
      !std::filesystem::create_directories(outputDir, madeDir)) {
    std::fprintf(stderr, "lowbit-run: cannot create the output directory %s: %s\n",
                 outputDir.c_str(), madeDir.message().c_str());
    return 1;
  }
  for (const auto &info : runner.outputs) {
    const Tensor &t = results.at(info.name);
    if (!outputDir.empty()) {
      std::string path = outputDir + "/" + info.name + ".npy";
      if (!writeNpy(path, t)) {
        std::fprintf(stderr, "lowbit-run: cannot write %s\n", path.c_str());
        return 1;
      }
    } else if (!bench) {
      std::printf("%s: [", info.name);
      for (size_t d = 0; d < t.dims.size(); ++d)
        std::printf("%s%lld", d ? ", " : "", (long long)t.dims[d]);
      std::printf("]\n");
    }
  }
  return 0;
}
