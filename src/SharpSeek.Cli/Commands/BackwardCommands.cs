// `sharpseek bench ffn-backward`: forward, B (dgrad) and W (wgrad) of the dense MLP, the MoE layer and the LM head
// with cross-entropy at training size (SharpSeek.Model.FfnBackwardBenchmark).
// `sharpseek bench backward`: a whole training step on a preset with random FP32 weights — ForwardLoss (main stack +
// MTP depths + losses), BackwardInput (B) and BackwardWeights (W) — and their ratios to the forward (a dense
// transformer's backward costs ≈ 2× its forward in FLOPs; the MLA backward also recomputes the attention
// probabilities). Ratios are measured side by side in one run, so a noisy box affects all alike.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SharpSeek.Model;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Cli.Commands;

public static class BackwardCommands
{
    public static Command CreateBenchFfnBackward()
    {
        var cmd = new Command("ffn-backward", "Time forward, input-gradient (B) and weight-gradient (W) steps of the dense MLP, MoE layer and LM head + cross-entropy.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => "tiny" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens per step (batch × sequence).", DefaultValueFactory = _ => 2048 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds (each runs every phase once; medians reported).", DefaultValueFactory = _ => 7 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON." };
        foreach (Option o in new Option[] { preset, tokens, threads, rounds, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            int n = parse.GetValue(threads);
            if (n < 0) throw new ArgumentException($"--threads must be >= 0 (got {n}).");
            ModelConfig config = ModelConfig.FromPresetOrPath(name);
            var r = FfnBackwardBenchmark.Run(config, name, parse.GetValue(tokens), n == 0 ? Environment.ProcessorCount : n, parse.GetValue(rounds));
            if (parse.GetValue(json)) { CliRunner.WriteJson(r); return 0; }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"'{r.Model}', {r.Tokens} tokens, {r.Threads} thread(s), median of {r.Rounds} rounds:"));
            foreach (var l in r.Layers)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {l.Layer,-11} F {l.ForwardMs,8:F1} ms  B {l.BackwardInputMs,8:F1} ms  W {l.BackwardWeightsMs,8:F1} ms  (B+W)/F {l.BackwardOverForward,5:F2}  F {l.ForwardGflops,6:F1} GFLOP/s  B+W {l.BackwardGflops,6:F1} GFLOP/s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  managed bytes allocated per round after warm-up: {r.AllocatedBytesPerRound}"));
            return 0;
        });
        return cmd;
    }

    public static Command CreateBenchModelBackward()
    {
        var cmd = new Command("backward", "Time ForwardLoss, backward B (dgrad) and W (wgrad) of a training step on a preset.");
        var preset = new Option<string>("--preset") { Description = "Model preset (random FP32 weights).", DefaultValueFactory = _ => "tiny" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens per sequence.", DefaultValueFactory = _ => 128 };
        var sequences = new Option<int>("--sequences") { Description = "Sequences per step.", DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after one warm-up step).", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { Description = "Worker threads.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        foreach (Option o in new Option[] { preset, tokens, sequences, steps, threads, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(tokens), s = parse.GetValue(sequences), timed = parse.GetValue(steps);
            if (n < 2 || s < 1 || timed < 1) throw new ArgumentException("--tokens must be >= 2, --sequences and --steps >= 1.");
            var config = ModelConfig.FromPresetOrPath(parse.GetValue(preset)!);
            using var weights = ModelWeights.Allocate(config, WeightDType.F32);
            weights.InitRandom(seed: 1, std: config.InitializerRange, biasStd: 0.01);
            weights.EnableGradients();
            using var pool = new WorkerPool(Math.Max(1, parse.GetValue(threads)));
            using var model = new DeepSeekV3(weights, new ForwardContext(pool), new ForwardCapacity(n * s, s, n));
            var rng = new Random(2);
            var batch = new ForwardBatch(n * s, s);
            var ids = new int[n + 1];
            var targets = new int[n * s];
            for (int q = 0; q < s; q++)
            {
                for (int i = 0; i <= n; i++) ids[i] = rng.Next(config.VocabSize);
                batch.Add(q, 0, ids.AsSpan(0, n));
                ids.AsSpan(1, n).CopyTo(targets.AsSpan(q * n, n));
            }
            double fwd = 0, b = 0, w = 0, loss = 0;
            for (int step = 0; step <= timed; step++)
            {
                weights.ZeroGradients();
                long t0 = Stopwatch.GetTimestamp();
                loss = model.ForwardLoss(batch, targets);
                long t1 = Stopwatch.GetTimestamp();
                model.BackwardInput(0.3f);
                long t2 = Stopwatch.GetTimestamp();
                model.BackwardWeights();
                long t3 = Stopwatch.GetTimestamp();
                if (step == 0) continue;   // warm-up: first backward allocates its buffers
                fwd += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds / timed;
                b += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds / timed;
                w += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds / timed;
            }
            double tokPerS = n * s / ((fwd + b + w) / 1000);
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new
                {
                    preset = parse.GetValue(preset), tokens = n * s, threads = pool.Threads, loss,
                    forward_ms = fwd, backward_input_ms = b, backward_weights_ms = w,
                    backward_over_forward = (b + w) / fwd, tokens_per_second = tokPerS,
                });
                return 0;
            }
            Console.Out.WriteLine($"{parse.GetValue(preset)}: {n * s} tokens ({s} × {n}), {pool.Threads} threads, loss {loss:F4}");
            Console.Out.WriteLine($"  forward+loss {fwd,9:F1} ms");
            Console.Out.WriteLine($"  backward B   {b,9:F1} ms   ({b / fwd:F2}× forward)");
            Console.Out.WriteLine($"  backward W   {w,9:F1} ms   ({w / fwd:F2}× forward)");
            Console.Out.WriteLine($"  step         {fwd + b + w,9:F1} ms   backward/forward {(b + w) / fwd:F2}, {tokPerS:F0} tokens/s");
            return 0;
        });
        return cmd;
    }
}
