using System.CommandLine;
using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek bench attention</c>: the training attention core (CausalAttention) of a preset's heads,
/// forward and backward, 1 thread and N threads, next to the naive reference in the same run; with --context, the
/// decode attention over the latent cache (LatentAttention) at those context lengths instead.</summary>
public static class AttentionCommands
{
    public static Command CreateBench()
    {
        var cmd = new Command("attention", "Time the causal attention core (scores, softmax, P·V and backward) of a preset's MLA heads: GFLOP/s, speed-up over the naive reference.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path (heads and head dims).", DefaultValueFactory = _ => "tiny" };
        var batch = new Option<int>("--batch") { Description = "Sequences (B).", DefaultValueFactory = _ => 8 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence (T).", DefaultValueFactory = _ => 256 };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the second run (0 = all cores; 1 runs once).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON." };
        var context = new Option<int[]>("--context") { Description = "Decode instead: the attention over the latent cache (absorbed MLA) of --batch rows, each over this many cached positions (several allowed).", AllowMultipleArgumentsPerToken = true };
        foreach (Option o in new Option[] { preset, batch, seq, threads, json, context }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            ModelConfig c = ModelConfig.FromPresetOrPath(parse.GetValue(preset)!);
            int b = parse.GetValue(batch), t = parse.GetValue(seq), n = parse.GetValue(threads);
            if (n < 0) throw new ArgumentException($"--threads must be >= 0 (0 = all cores); got {n}.");
            if (n == 0) n = Environment.ProcessorCount;
            int[] contexts = parse.GetValue(context) ?? [];
            if (contexts.Length > 0) return Latent(c, b, contexts, n, parse.GetValue(json));
            var results = new List<AttentionBenchResult>();
            foreach (int threadCount in n == 1 ? new[] { 1 } : new[] { 1, n })
            {
                using var pool = new WorkerPool(threadCount);
                results.AddRange(AttentionBenchmark.Run(pool, b, t, c.NumAttentionHeads, c.QkNopeHeadDim, c.QkRopeHeadDim, c.VHeadDim));
            }
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new { batch = b, seq = t, heads = c.NumAttentionHeads, dq = c.QkHeadDim, dv = c.VHeadDim, simd = Simd.Name(Simd.Active), results });
                return 0;
            }
            Console.WriteLine($"attention core: B={b} T={t} H={c.NumAttentionHeads} Dq={c.QkHeadDim} Dv={c.VHeadDim} ({Simd.Name(Simd.Active)}); causal FLOPs only");
            foreach (var r in results)
                Console.WriteLine($"  {r.Pass,-8} {r.Threads} thread(s): median {r.MedianSeconds * 1e3,8:F2} ms  {r.Gflops,6:F1} GFLOP/s wall, {r.CpuGflops,6:F1} per CPU-second  {r.SpeedupVsReference,6:F1}x the reference");
            return 0;
        });
        return cmd;
    }

    private static int Latent(ModelConfig c, int rows, int[] contexts, int threads, bool json)
    {
        foreach (int l in contexts)
            if (l < 1) throw new ArgumentException($"--context lengths must be >= 1; got {l}.");
        var results = new List<LatentAttentionBenchResult>();
        foreach (int l in contexts)
            foreach (int threadCount in threads == 1 ? new[] { 1 } : new[] { 1, threads })
            {
                using var pool = new WorkerPool(threadCount);
                results.AddRange(LatentAttentionBenchmark.Run(pool, rows, l, c.NumAttentionHeads, c.KvLoraRank, c.QkRopeHeadDim));
            }
        if (json)
        {
            CliRunner.WriteJson(new { rows, heads = c.NumAttentionHeads, rkv = c.KvLoraRank, dr = c.QkRopeHeadDim, simd = Simd.Name(Simd.Active), results });
            return 0;
        }
        Console.WriteLine($"decode attention over the latent cache: B={rows} H={c.NumAttentionHeads} Rkv={c.KvLoraRank} Dr={c.QkRopeHeadDim} ({Simd.Name(Simd.Active)})");
        foreach (var r in results)
            Console.WriteLine($"  L={r.Context,-6} {r.Cache,-4} {r.Threads} thread(s): median {r.MedianSeconds * 1e3,8:F3} ms  {r.Gflops,6:F1} GFLOP/s  KV {r.KvGbps,5:F1} GB/s  {r.SpeedupVsReference,6:F1}x the reference");
        return 0;
    }
}
