using Spectre.Console;
using SharpSeek.Training.Metrics;

namespace SharpSeek.Training.Tests;

public class MetricsTests
{
    internal static List<MetricsRecord> SyntheticRun(int steps)
    {
        var list = new List<MetricsRecord>();
        for (int s = 1; s <= steps; s++)
        {
            double loss = 2.5 + 6.5 * Math.Exp(-s / 40.0) + 0.05 * Math.Sin(s);
            list.Add(new MetricsRecord
            {
                Step = s, Loss = loss, MtpLoss = loss + 0.4, BalanceLoss = 1e-4 * (1 + 0.5 / s), Lr = 1e-3 * Math.Min(1, s / 20.0),
                ValLoss = s % 25 == 0 ? loss + 0.1 : null, TokensPerSecond = 1500 + s % 7, GradNorm = 1.0 / Math.Sqrt(s),
                ExpertLoad = [new LayerLoad(1, 1 + 3 * Math.Exp(-s / 30.0)), new LayerLoad(2, 1.2 + 2 * Math.Exp(-s / 50.0)),
                              new LayerLoad(4, 1.1 + 4 * Math.Exp(-s / 20.0))],
            });
        }
        return list;
    }

    [Fact]
    public void MetricsLog_AppendsOneJsonObjectPerStep_WithSnakeCaseKeys()
    {
        using var tmp = new TempDir();
        using (var log = MetricsLog.Open(tmp.Path))
            foreach (var r in SyntheticRun(3)) log.Append(r);
        string[] lines = File.ReadAllLines(Path.Combine(tmp.Path, MetricsLog.FileName));
        Assert.Equal(3, lines.Length);
        Assert.Contains("\"step\":1", lines[0]);
        Assert.Contains("\"tokens_per_second\":", lines[0]);
        Assert.Contains("\"expert_load\":[{\"layer\":1,\"max_over_mean\":", lines[0]);
        Assert.DoesNotContain("val_loss", lines[0]); // only when computed
        var back = MetricsLog.ReadAll(Path.Combine(tmp.Path, MetricsLog.FileName));
        Assert.Equal(SyntheticRun(3)[2].Loss, back[2].Loss);
        Assert.Equal(3, back[2].ExpertLoad.Length);
    }

    [Fact]
    public void MetricsLog_Resume_CutsBackToCheckpointStep_AndToleratesTornLine()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, MetricsLog.FileName);
        using (var log = MetricsLog.Open(tmp.Path))
            foreach (var r in SyntheticRun(10)) log.Append(r);
        File.AppendAllText(path, "{\"step\":11,\"lo"); // killed mid-line
        using (var log = MetricsLog.Open(tmp.Path, resumeStep: 6))
            log.Append(SyntheticRun(7)[6]);
        var back = MetricsLog.ReadAll(path);
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], back.Select(r => r.Step));
        File.WriteAllText(path, "garbage\n{\"step\":1}\n");
        Assert.Throws<InvalidDataException>(() => MetricsLog.ReadAll(path));
    }

    [Fact]
    public void Plots_WriteLossAndExpertLoadPngs()
    {
        using var tmp = new TempDir();
        var written = TrainingPlots.Write(SyntheticRun(200), tmp.Path, "tiny");
        Assert.Equal([TrainingPlots.LossFile, TrainingPlots.ExpertLoadFile], written.Select(Path.GetFileName));
        foreach (string png in written)
        {
            byte[] bytes = File.ReadAllBytes(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.True(bytes.Length > 10_000, $"{png} is only {bytes.Length} bytes");
        }
        Assert.Empty(TrainingPlots.Write([], tmp.Path));
    }

    private static (IAnsiConsole Console, StringWriter Out) Capture(bool interactive)
    {
        var sw = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(sw),
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Standard : ColorSystemSupport.NoColors,
        });
        return (console, sw);
    }

    [Fact]
    public void PlainDisplay_LogsEveryNthStep_ValidationSteps_AndTheLast()
    {
        var (console, sw) = Capture(interactive: false);
        Assert.False(ProgressDisplay.IsLive(console));
        ProgressDisplay.Run(console, 30, sink =>
        {
            sink.Info("tokenized 1234 tokens");
            foreach (var r in SyntheticRun(30)) sink.Step(r);
        }, logEvery: 10);
        string[] lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("tokenized 1234 tokens", lines[0]);
        Assert.Equal(["step 10/30", "step 20/30", "step 25/30", "step 30/30"], lines[1..].Select(l => string.Join(' ', l.Split(' ')[..2])));
        Assert.Contains(" val ", lines[3]);
        Assert.Contains("load(max/mean) L1:", lines[1]);
        Assert.DoesNotContain("\u001b[", sw.ToString());
    }

    [Fact]
    public void LiveDisplay_RendersThePanel()
    {
        var (console, sw) = Capture(interactive: true);
        ProgressDisplay.Run(console, 5, sink => { foreach (var r in SyntheticRun(5)) sink.Step(r); }, live: true);
        string text = sw.ToString();
        Assert.Contains("validation loss", text);
        Assert.Contains("5/5", text);
        Assert.Contains("L4:", text);
    }
}
