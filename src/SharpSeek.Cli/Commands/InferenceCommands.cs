// `sharpseek logits` (reference-check interface), `sharpseek generate` and `sharpseek bench decode`.
using System.CommandLine;
using System.Text;
using SharpSeek.Inference;
using SharpSeek.Inference.RefCheck;
using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;
using SharpSeek.Tokenizers;

namespace SharpSeek.Cli.Commands;

public static class InferenceCommands
{
    private static Option<string?> DTypeOption(string defaultNote) => new("--dtype")
    {
        Description = $"Weights in memory: fp8 (FP8 kernels), bf16 or f32 (dequantized on load). Default: {defaultNote}.",
    };

    private static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "Worker threads (default: all logical processors).",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public static WeightDType? ParseDType(string? s) => s switch
    {
        null => null,
        "fp8" => WeightDType.Fp8,
        "bf16" => WeightDType.Bf16,
        "f32" or "fp32" => WeightDType.F32,
        _ => throw new ArgumentException($"--dtype must be fp8, bf16 or f32 (got '{s}')."),
    };

    public static Command CreateLogits()
    {
        var cmd = new Command("logits", "Reference check: compute decode/full/MTP logits for a refcheck request.json.");
        var request = new Option<string>("--request") { Description = "request.json (checkpoint path inside is relative to it).", Required = true };
        var output = new Option<string>("--out") { Description = "response.json to write.", Required = true };
        var precision = new Option<string>("--precision")
        {
            Description = "fp32 (FP32 activations) or bf16 (BF16 activations, FP32 accumulation/softmax/RMSNorm/router).",
            DefaultValueFactory = _ => "fp32",
        };
        var dtype = DTypeOption("f32 (exact dequantization, as the golden)");
        var check = new Option<string?>("--check") { Description = "golden.json to compare with, using its tolerances (exit 1 on failure)." };
        var threads = ThreadsOption();
        foreach (Option o in new Option[] { request, output, precision, dtype, check, threads }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string prec = parse.GetValue(precision)!;
            ActivationPrecision ap = prec switch
            {
                "fp32" => ActivationPrecision.Fp32,
                "bf16" => ActivationPrecision.Bf16,
                _ => throw new ArgumentException($"--precision must be fp32 or bf16 (got '{prec}')."),
            };
            using var pool = new WorkerPool(Math.Max(1, parse.GetValue(threads)));
            var response = RefCheckRunner.Run(parse.GetValue(request)!, ap, ParseDType(parse.GetValue(dtype)) ?? WeightDType.F32, pool);
            response.Save(parse.GetValue(output)!);
            Console.Error.WriteLine($"wrote {parse.GetValue(output)}: {response.DecodeLogits.Length} decode, {response.FullLogits.Length} full, {response.MtpLogits?.Length ?? 0} mtp rows");
            string? golden = parse.GetValue(check);
            if (golden is null) return 0;
            var results = RefCheckComparer.Compare(response, RefCheckGolden.Load(golden), prec);
            foreach (var r in results)
                Console.Out.WriteLine($"{r.Name,-7} rows {r.Rows,3}  max|Δ| {r.MaxAbs:E3}  relRMS {r.RelRms:E3}  KL {r.KlMean:E3}  argmax {r.ArgmaxChecked - r.ArgmaxMismatches}/{r.ArgmaxChecked}  {r.Verdict}");
            return results.All(r => r.Passed) ? 0 : 1;
        });
        return cmd;
    }

    public static Command CreateGenerate()
    {
        var cmd = new Command("generate", "Generate tokens from a checkpoint with the latent KV cache (streams tokens, stops at EOS).");
        var model = new Option<string>("--model") { Description = "Checkpoint directory (config.json + safetensors [+ tokenizer.json]).", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt text (needs tokenizer.json in the model directory)." };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "Prompt token ids, comma-separated (e.g. 1,2,3)." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Sample among the K most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var dtype = DTypeOption("the checkpoint's own (fp8 stays fp8, bf16 stays bf16)");
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of streaming." };
        var threads = ThreadsOption();
        foreach (Option o in new Option[] { model, prompt, promptIds, maxTokens, temperature, topP, topK, seed, dtype, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string dir = parse.GetValue(model)!;
            string? text = parse.GetValue(prompt), ids = parse.GetValue(promptIds);
            if ((text is null) == (ids is null)) throw new ArgumentException("give exactly one of --prompt TEXT or --prompt-ids 1,2,3.");
            Tokenizer? tok = File.Exists(Path.Combine(dir, "tokenizer.json")) ? Tokenizer.Load(dir) : null;
            int[] promptTokens;
            if (text is not null)
            {
                if (tok is null)
                    throw new ArgumentException($"--prompt needs a tokenizer, but {dir} has no tokenizer.json; pass --prompt-ids instead.");
                promptTokens = tok.Encode(text, addSpecialTokens: true);
            }
            else promptTokens = ParseIds(ids!);
            int max = parse.GetValue(maxTokens);
            Generator.CheckMaxTokens(max);   // before the checkpoint loads (and before a 0-token cache is asked for)
            var (config, weights) = CheckpointLoader.Load(dir, ParseDType(parse.GetValue(dtype)));
            using var _ = weights;
            using var pool = new WorkerPool(Math.Max(1, parse.GetValue(threads)));
            int context = Math.Min(config.MaxPositionEmbeddings, promptTokens.Length + max);
            using var engine = new InferenceEngine(weights, new ForwardContext(pool), 1, context, Math.Min(256, promptTokens.Length));
            var sampling = new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK), parse.GetValue(seed));
            bool asJson = parse.GetValue(json);
            var streamed = new List<int>();
            string shown = "";
            void OnToken(int t)
            {
                streamed.Add(t);
                if (asJson) return;
                if (tok is null) { Console.Out.Write(streamed.Count == 1 ? $"{t}" : $",{t}"); Console.Out.Flush(); return; }
                string all = tok.Decode(streamed.ToArray());
                if (all.EndsWith('\uFFFD') || !all.StartsWith(shown, StringComparison.Ordinal)) return;
                Console.Out.Write(all[shown.Length..]);
                Console.Out.Flush();
                shown = all;
            }
            var result = Generator.Generate(engine, promptTokens, max, sampling, tok?.EosId ?? config.EosTokenId, OnToken);
            if (asJson)
            {
                CliRunner.WriteJson(new
                {
                    prompt_ids = promptTokens,
                    tokens = result.Tokens,
                    text = tok?.Decode(result.Tokens),
                    stopped_at_eos = result.StoppedAtEos,
                    prefill_tokens_per_second = result.PrefillTokensPerSecond,
                    decode_tokens_per_second = result.DecodeTokensPerSecond,
                    kv_cache_bytes_per_token = result.KvBytesPerToken,
                    kv_cache_bytes_used = result.KvBytesUsed,
                    weights_dtype = weights.DType.ToString().ToLowerInvariant(),
                });
                return 0;
            }
            Console.Out.WriteLine();
            Console.Error.WriteLine(
                $"[{result.Tokens.Length} tokens{(result.StoppedAtEos ? ", stopped at EOS" : "")}] prefill {result.PromptTokens} tok at {result.PrefillTokensPerSecond:F1} tok/s, " +
                $"decode {result.DecodeTokensPerSecond:F1} tok/s; KV cache {result.KvBytesPerToken} B/token, {result.KvBytesUsed} B used; weights {weights.DType}");
            return 0;
        });
        return cmd;
    }

    public static Command CreateBenchDecode()
    {
        var cmd = new Command("decode", "Decode tokens/s at batch 1 and 8 and the fraction of the memory-bandwidth roofline.");
        var model = new Option<string?>("--model") { Description = "Checkpoint directory." };
        var preset = new Option<string?>("--preset") { Description = "Preset with random weights of --dtype (tiny, small, …)." };
        var dtype = DTypeOption("bf16 for a preset, the checkpoint's own for --model");
        var steps = new Option<int>("--steps") { Description = "Timed decode steps per round.", DefaultValueFactory = _ => 16 };
        var rounds = new Option<int>("--rounds")
        {
            Description = "Rounds of (read-bandwidth probe, decode steps); figures are medians over rounds.", DefaultValueFactory = _ => 5,
        };
        var prompt = new Option<int>("--prompt-length") { Description = "Prompt tokens per sequence before decoding.", DefaultValueFactory = _ => 32 };
        var batches = new Option<int[]>("--batch")
        {
            Description = "Batch sizes.", DefaultValueFactory = _ => [1, 8], AllowMultipleArgumentsPerToken = true,
        };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        var threads = ThreadsOption();
        foreach (Option o in new Option[] { model, preset, dtype, steps, rounds, prompt, batches, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string? dir = parse.GetValue(model), name = parse.GetValue(preset);
            if ((dir is null) == (name is null)) throw new ArgumentException("give exactly one of --model DIR or --preset NAME.");
            WeightDType? requested = ParseDType(parse.GetValue(dtype));
            ModelWeights weights;
            if (dir is not null) weights = CheckpointLoader.Load(dir, requested).Weights;
            else
            {
                weights = ModelWeights.Allocate(ModelConfig.FromPreset(name!), requested ?? WeightDType.Bf16);
                weights.InitRandom(seed: 1, std: weights.Config.InitializerRange, biasStd: 0.01);
            }
            using var _ = weights;
            using var pool = new WorkerPool(Math.Max(1, parse.GetValue(threads)));
            var ctx = new ForwardContext(pool);
            var results = new List<DecodeBenchResult>();
            double peak = MachinePeak.FmaGflopsWidest(pool).Gflops;
            foreach (int b in parse.GetValue(batches)!)   // bandwidth probes interleave with the decode rounds
                results.Add(DecodeBenchmark.Run(weights, ctx, b, parse.GetValue(prompt), parse.GetValue(steps), parse.GetValue(rounds), fmaPeakGflops: peak));
            double after = MachinePeak.FmaGflopsWidest(pool).Gflops;   // the higher of two: the host is shared
            if (after > peak) results = results.Select(r => r.WithFmaPeak(after)).ToList();
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new
                {
                    model = dir ?? name,
                    weights_dtype = weights.DType.ToString().ToLowerInvariant(),
                    weight_bytes = weights.Bytes,
                    threads = pool.Threads,
                    kv_cache_bytes_per_token = (long)(weights.Config.KvLoraRank + weights.Config.QkRopeHeadDim) * weights.Config.NumHiddenLayers * 4,
                    runs = results,
                });
                return 0;
            }
            Console.Out.WriteLine($"{dir ?? name}: weights {weights.DType}, {weights.Bytes / 1e6:F1} MB, {pool.Threads} threads");
            foreach (var r in results)
                Console.Out.WriteLine($"batch {r.Batch,2}: {r.TokensPerSecond,8:F1} tok/s  weights/step {r.WeightBytesPerStep / 1e6:F1} MB  " +
                    $"read BW {r.ReadGbps:F1} GB/s  roofline fraction {r.RooflineFraction:P0}" +
                    $"  (by CPU time of all threads: read {r.CpuReadGbps:F1} GB/s, fraction {r.CpuRooflineFraction:P0})" +
                    $"  compute {r.FlopsPerStep / 1e9:F2} GFLOP/step = {r.ComputeFraction:P0} of the {r.FmaPeakGflops:F0} GFLOP/s FMA peak ({r.Bound}-bound)");
            return 0;
        });
        return cmd;
    }

    private static int[] ParseIds(string s)
    {
        try
        {
            return s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"--prompt-ids must be comma-separated integers (got '{s}').");
        }
    }
}
