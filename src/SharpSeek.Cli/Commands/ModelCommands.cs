using System.CommandLine;
using Spectre.Console;
using SharpSeek.Model;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek model info</c>: a config's shape and parameter counts, without loading weights.</summary>
public static class ModelCommands
{
    public static Command Create()
    {
        var model = new Command("model", "Inspect model configurations and checkpoints.");
        var info = new Command("info", "Show a config's dimensions and parameter counts (no weights are loaded).");
        var source = new Option<string>("--model")
        {
            Description = "Preset name (deepseek-v3, tiny, small), config.json path or checkpoint directory.",
            DefaultValueFactory = _ => "deepseek-v3",
        };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        info.Options.Add(source);
        info.Options.Add(json);
        info.SetAction(parse =>
        {
            ModelConfig cfg = ModelConfig.FromPresetOrPath(parse.GetValue(source)!);
            ParameterCounts counts = ParameterCounts.Of(cfg);
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new
                {
                    total_params = counts.Total,
                    activated_params_per_token = counts.ActivatedPerToken,
                    mtp_params = counts.Mtp,
                    by_component = counts.ByComponent.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
                    layers = cfg.NumHiddenLayers,
                    hidden_size = cfg.HiddenSize,
                    routed_experts = cfg.NRoutedExperts,
                    experts_per_token = cfg.NumExpertsPerTok,
                });
                return 0;
            }
            var table = new Table().AddColumn("component").AddColumn(new TableColumn("parameters").RightAligned());
            foreach (var (comp, n) in counts.ByComponent) table.AddRow(comp.ToString(), n.ToString("N0"));
            table.AddRow("[bold]total (without MTP)[/]", $"[bold]{counts.Total:N0}[/]");
            table.AddRow("[bold]activated per token[/]", $"[bold]{counts.ActivatedPerToken:N0}[/]");
            AnsiConsole.Write(table);
            return 0;
        });
        model.Subcommands.Add(info);
        return model;
    }
}
