// `sharpseek bench backward` — time of a training step's pieces on a preset with random FP32 weights:
// ForwardLoss (main stack + MTP depths + losses), BackwardInput (B) and BackwardWeights (W), and their ratios to
// the forward (a dense transformer's backward costs ≈ 2× its forward in FLOPs; the MLA backward also recomputes
// the attention probabilities). Ratios are measured side by side in one run, so a noisy box affects all alike.
using System.CommandLine;
using System.Diagnostics;
using SharpSeek.Model;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Cli.Commands;

public static class BackwardCommands
{
    public static Command CreateBench()
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
