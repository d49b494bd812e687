-- Placeholder: replaced by the results work (match history and ratings).
CREATE TABLE mm_placeholder (id INT NOT NULL PRIMARY KEY) ENGINE = InnoDB;
