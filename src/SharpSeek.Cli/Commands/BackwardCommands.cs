// `sharpseek bench ffn-backward`: forward, B (dgrad) and W (wgrad) of the dense MLP, the MoE layer and the LM head
// with cross-entropy at training size (SharpSeek.Model.FfnBackwardBenchmark).
using System.CommandLine;
using System.Globalization;
using SharpSeek.Model;

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
}
