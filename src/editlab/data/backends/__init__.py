"""Model backends the stages share: chat models, diffusion components, encoders, tiny random models."""
