// The decision graph as a picture (cytoscape.js): nodes clickable to their details, kept as text.
(function () {
  "use strict";
  const container = document.getElementById("graph");
  if (!container || !window.cytoscape) { return; }
  const colours = {
    Story: "#0b4fa3", Plan: "#5b3c99", PlanApproval: "#1f7a3a", PlanRejection: "#a4121b", Task: "#b35900",
    Decision: "#7a1f5c", Deliberation: "#00626b", Proposal: "#4a5563", Agent: "#3d6b00", Epic: "#12263f",
    Project: "#12263f", PhaseTransition: "#6b7480", TaskDispatch: "#8a4b00", DerivationFailure: "#a4121b",
  };
  const details = document.getElementById("node-text");
  let cy = null;

  function show(data) {
    details.textContent = "";
    const title = document.createElement("strong");
    title.textContent = data.label + " " + data.id;
    const caption = document.createElement("span");
    caption.textContent = data.caption ? " — " + data.caption : "";
    details.append(title, caption);
    if (data.label === "Story") {
      const link = document.createElement("a");
      link.href = "/stories/" + encodeURIComponent(data.id);
      link.textContent = " open the story";
      details.append(link);
    }
    container.dataset.selected = data.id;
  }

  fetch(container.dataset.src, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("the server answered " + response.status); }
      return response.json();
    })
    .then(function (graph) {
      cy = window.cytoscape({
        container: container,
        elements: graph.elements,
        style: [
          { selector: "node", style: {
            "background-color": function (n) { return colours[n.data("label")] || "#4a5563"; },
            "label": function (n) { return n.data("label") + (n.data("caption") ? ": " + n.data("caption").slice(0, 24) : ""); },
            "font-size": 9, "color": "#1b1f24", "text-valign": "bottom", "text-margin-y": 3, "width": 18, "height": 18 } },
          { selector: "node:selected", style: { "border-width": 3, "border-color": "#b35900" } },
          { selector: "edge", style: { "width": 1, "line-color": "#9aa3ad", "target-arrow-color": "#9aa3ad",
            "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(rel)", "font-size": 7, "color": "#4a5563" } },
        ],
        layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1, roots: "#" + CSS.escape(graph.elements[0].data.id) },
      });
      cy.on("tap", "node", function (event) { show(event.target.data()); });
      window.fleetGraph = cy; // for tests and the console: where each node is drawn
      container.dataset.ready = "true";
    })
    .catch(function (error) {
      // Said, not swallowed: the list of nodes below stays usable without the picture.
      container.dataset.ready = "error";
      container.textContent = "The picture could not be drawn (" + error.message + "); the nodes are listed below.";
    });

  document.querySelectorAll(".node-pick").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!cy) { return; }
      const node = cy.getElementById(button.dataset.node);
      cy.elements().unselect();
      node.select();
      show(node.data());
    });
  });
})();
