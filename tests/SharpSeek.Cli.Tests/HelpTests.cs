// Every command answers --help: exit 0, a usage line naming the command, a description. Commands are discovered
// by walking the "Commands:" sections of the help output itself, so a command added later is covered too.
namespace SharpSeek.Cli.Tests;

public class HelpTests
{
    /// <summary>The subcommand names listed under "Commands:" in a help text.</summary>
    public static IReadOnlyList<string> Subcommands(string help)
    {
        var names = new List<string>();
        bool inCommands = false;
        foreach (var line in help.Split('\n'))
        {
            if (line.StartsWith("Commands:", StringComparison.Ordinal)) { inCommands = true; continue; }
            if (!inCommands) continue;
            if (line.Length == 0 || !line.StartsWith("  ", StringComparison.Ordinal)) { if (line.Trim().Length > 0) inCommands = false; continue; }
            if (line.StartsWith("   ", StringComparison.Ordinal)) continue;   // wrapped description
            string name = line.Trim().Split(' ')[0];
            if (name.Length > 0) names.Add(name);
        }
        return names;
    }

    [Fact]
    public void Every_command_has_help()
    {
        var pending = new Queue<string[]>();
        pending.Enqueue([]);
        var seen = new List<string>();
        while (pending.Count > 0)
        {
            string[] path = pending.Dequeue();
            CliResult r = CliProcess.Run([.. path, "--help"]);
            string name = string.Join(' ', path);
            Assert.True(r.ExitCode == 0, $"sharpseek {name} --help: {r}");
            Assert.Contains("Description:", r.Stdout);
            Assert.Contains(("Usage:\n  sharpseek " + name).TrimEnd(), r.Stdout.Replace("\r", ""));
            Assert.Contains("-h, --help", r.Stdout);
            Assert.Equal("", r.Stderr);
            seen.Add(name);
            foreach (var sub in Subcommands(r.Stdout)) pending.Enqueue([.. path, sub]);
        }
        // The tree this walk must at least find (issues 2–6); more is fine.
        foreach (var expected in new[] { "model info", "logits", "generate", "tokenize", "tokenizer train", "plan",
                     "plan schedule", "train", "bench gemm", "bench memory", "bench kernels", "bench decode",
                     "bench tokenizer", "bench train" })
            Assert.Contains(expected, seen);
    }

    [Fact]
    public void Subcommand_parser_reads_wrapped_descriptions()
    {
        const string help = "Description:\n  x\n\nCommands:\n  info   Show a thing\n         wrapped line\n  train  Train.\n\n";
        Assert.Equal(["info", "train"], Subcommands(help));
    }
}
